// Internal: checks that confirm a regex match is really the entity its rule names (a card number
// that passes Luhn, an IBAN whose mod-97 is 1, ...). A catalogue rule names its validator; a match
// whose value fails the check is not reported as that entity.
//
// Every check takes any byte string (empty, huge, invalid UTF-8) without throwing, reading out of
// bounds or allocating.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace keel::firewall {

enum class Validator {
  none,
  luhn,
  iban,
  us_ssn,
  aba_routing,
  ipv4,
  ipv6,
  mac,
  crypto_wallet,
  uk_nino,
  phone,
  date
};

// "luhn" -> Validator::luhn; "none" and "" -> Validator::none; unknown names -> nullopt.
std::optional<Validator> validator_from_name(std::string_view name);
std::string_view validator_name(Validator v);

// Runs the check v names; Validator::none accepts everything.
bool validate(Validator v, std::string_view value) noexcept;

// Payment card: Luhn checksum over 13-19 digits; spaces and dashes are ignored, anything else
// fails. 12 digits are accepted only with a Maestro prefix (50, 56-69), which issues 12-digit cards.
// All-zero numbers fail.
bool luhn_valid(std::string_view digits_with_separators) noexcept;

// IBAN (ISO 13616): spaces allowed, letters of either case; the country must be in the SWIFT IBAN
// registry with the length it gives; check digits 02-98; mod-97 of the rearranged number is 1.
bool iban_valid(std::string_view value) noexcept;

// US SSN, "123-45-6789", "123 45 6789" or "123456789": area not 000, 666 or 900-999, group not 00,
// serial not 0000; well-known fakes (078-05-1120, 219-09-9999, 123-45-6789) and one repeated digit
// fail.
bool us_ssn_valid(std::string_view value) noexcept;

// ABA routing transit number: 9 digits, 3-7-1 weighted checksum, first two digits in a Federal
// Reserve range (00-12, 21-32, 61-72, 80); all zeros fail.
bool aba_routing_valid(std::string_view value) noexcept;

// Dotted-quad IPv4: four decimal octets 0-255, no leading zeros ("0" itself is fine).
bool ipv4_valid(std::string_view value) noexcept;

// IPv6 text forms of RFC 4291 §2.2: eight groups of 1-4 hex digits, one "::" for one or more zero
// groups, an embedded dotted-quad IPv4 as the last 32 bits, and an optional non-empty "%zone".
bool ipv6_valid(std::string_view value) noexcept;

// MAC (EUI-48): six hex octets joined by ':' or '-' (the same throughout), or Cisco's
// xxxx.xxxx.xxxx. All-zero and broadcast (all-ones) addresses fail: they identify no one.
bool mac_valid(std::string_view value) noexcept;

// Cryptocurrency wallet address:
//  - Bitcoin base58check P2PKH/P2SH: 25 bytes, version 0x00 or 0x05, checksum = the first 4 bytes
//    of SHA-256(SHA-256(version + hash160));
//  - Bitcoin segwit "bc1...": bech32 (BIP-173) for witness version 0, bech32m (BIP-350) for 1-16,
//    program 2-40 bytes (20 or 32 for version 0), one case only, at most 90 characters;
//  - Ethereum "0x" + 40 hex: all lower or all upper case, or mixed case passing EIP-55 (Keccak-256).
bool crypto_wallet_valid(std::string_view value) noexcept;

// UK National Insurance number, "AB123456C" or "AB 12 34 56 C": HMRC prefix rules (first letter
// not D F I Q U V, second not D F I O Q U V, not BG GB KN NK NT TN ZZ), six digits, suffix A-D.
bool uk_nino_valid(std::string_view value) noexcept;

// Phone number: 7 to 15 digits (E.164) in the main number, optional leading '+', separators
// space . - / and parentheses, an optional extension ("x123", "ext. 123", "#123"). Fails when all
// the digits are the same, and for shapes that are clearly something else: a calendar date (or a
// value starting with one), a dotted quad, an SSN-shaped 3-2-4 or a ZIP+4 5-4 dashed number.
bool phone_valid(std::string_view value) noexcept;

// A real calendar date, year 1900-2100: "1990-03-12", "12/03/1990", "03/12/1990", "12.03.1990",
// "12-03-1990", "12 March 1990", "March 12, 1990", "12th of March 1990", "Mar 12 1990",
// "12 de marzo de 1990", "12 mars 1990", "12. März 1990" (English, Spanish, French, German,
// Italian and Portuguese month names, full or abbreviated). D/M/Y and M/D/Y are both accepted.
bool date_valid(std::string_view value) noexcept;

}  // namespace keel::firewall

namespace keel::detail {
// Keccak-256 as Ethereum uses it (the original Keccak padding 0x01, not SHA3-256's 0x06).
std::array<unsigned char, 32> keccak256(std::string_view data) noexcept;
}  // namespace keel::detail
