#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "firewall/sha256.hpp"
#include "firewall/validators.hpp"

using namespace keel::firewall;

namespace {

std::string hex(const std::array<unsigned char, 32>& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out += kHex[c >> 4];
    out += kHex[c & 0x0F];
  }
  return out;
}

}  // namespace

// ----- SHA-256 -----

TEST_CASE("sha256 of \"abc\" matches the FIPS 180-4 example") {
  CHECK(keel::detail::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sha256 of the empty string matches the known digest") {
  CHECK(keel::detail::sha256_hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("sha256 of the 448-bit two-block message matches the FIPS 180-4 example") {
  CHECK(keel::detail::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("sha256 of one million 'a' matches the FIPS 180-4 example") {
  CHECK(keel::detail::sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 fed in uneven pieces equals sha256 of the whole") {
  std::string message;
  for (int i = 0; i < 1000; ++i) message += static_cast<char>('a' + i % 26);
  keel::detail::Sha256 hasher;
  std::size_t at = 0, step = 1;
  while (at < message.size()) {
    const std::size_t take = std::min(step, message.size() - at);
    hasher.update(std::string_view(message).substr(at, take));
    at += take;
    step = step * 3 % 97 + 1;
  }
  CHECK(hex(hasher.finish()) == keel::detail::sha256_hex(message));
}

TEST_CASE("sha256 object can be reused after reset") {
  keel::detail::Sha256 hasher;
  hasher.update("something else");
  (void)hasher.finish();
  hasher.reset();
  hasher.update("abc");
  CHECK(hex(hasher.finish()) == keel::detail::sha256_hex("abc"));
}

TEST_CASE("sha256 of messages around the padding boundary differ and have 64 hex digits") {
  // 55, 56 and 64 bytes take the one- and two-block padding paths.
  const auto a = keel::detail::sha256_hex(std::string(55, 'x'));
  const auto b = keel::detail::sha256_hex(std::string(56, 'x'));
  const auto c = keel::detail::sha256_hex(std::string(64, 'x'));
  CHECK(a.size() == 64);
  CHECK(a != b);
  CHECK(b != c);
}

// ----- Keccak-256 -----

TEST_CASE("keccak256 uses Ethereum's padding (empty string and \"abc\")") {
  CHECK(hex(keel::detail::keccak256("")) ==
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  CHECK(hex(keel::detail::keccak256("abc")) ==
        "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
}

// ----- names and dispatch -----

TEST_CASE("validator names round-trip") {
  for (Validator v : {Validator::none, Validator::luhn, Validator::iban, Validator::us_ssn,
                      Validator::aba_routing, Validator::ipv4, Validator::ipv6, Validator::mac,
                      Validator::crypto_wallet, Validator::uk_nino, Validator::phone,
                      Validator::date}) {
    const auto parsed = validator_from_name(validator_name(v));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == v);
  }
}

TEST_CASE("unknown validator names are rejected") {
  CHECK_FALSE(validator_from_name("LUHN").has_value());
  CHECK_FALSE(validator_from_name("crc32").has_value());
}

TEST_CASE("validate dispatches to the named check and none accepts anything") {
  CHECK(validate(Validator::none, "anything"));
  CHECK(validate(Validator::luhn, "4111 1111 1111 1111"));
  CHECK_FALSE(validate(Validator::luhn, "4111 1111 1111 1112"));
  CHECK(validate(Validator::ipv4, "192.168.1.1"));
  CHECK_FALSE(validate(Validator::ipv4, "999.1.1.1"));
}

TEST_CASE("every validator rejects empty and garbage input without crashing") {
  std::string big(1 << 16, '9');
  std::string binary;
  for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
  for (Validator v : {Validator::luhn, Validator::iban, Validator::us_ssn, Validator::aba_routing,
                      Validator::ipv4, Validator::ipv6, Validator::mac, Validator::crypto_wallet,
                      Validator::uk_nino, Validator::phone, Validator::date}) {
    CHECK_FALSE(validate(v, ""));
    CHECK_FALSE(validate(v, big));
    CHECK_FALSE(validate(v, binary));
    CHECK_FALSE(validate(v, std::string_view("\0\0\0\0\0\0\0\0\0", 9)));
  }
}

// ----- Luhn -----

TEST_CASE("luhn accepts well-known test card numbers") {
  CHECK(luhn_valid("4111111111111111"));
  CHECK(luhn_valid("5555555555554444"));
  CHECK(luhn_valid("378282246310005"));   // 15-digit Amex
  CHECK(luhn_valid("6011111111111117"));
  CHECK(luhn_valid("4500000000005"));     // 13 digits
  CHECK(luhn_valid("4111111111111111110"));  // 19 digits
}

TEST_CASE("luhn ignores space and dash separators") {
  CHECK(luhn_valid("4111 1111 1111 1111"));
  CHECK(luhn_valid("4111-1111-1111-1111"));
  CHECK(luhn_valid("3782 822463 10005"));
}

TEST_CASE("luhn rejects a wrong check digit") {
  CHECK_FALSE(luhn_valid("4111111111111112"));
  CHECK_FALSE(luhn_valid("4111 1111 1111 1121"));
}

TEST_CASE("luhn rejects lengths outside 13-19 digits") {
  CHECK_FALSE(luhn_valid("4111111111111111111111"));
  CHECK_FALSE(luhn_valid("00000000"));
  CHECK_FALSE(luhn_valid("42"));
}

TEST_CASE("luhn accepts 12 digits only under a Maestro prefix") {
  CHECK(luhn_valid("630412345674"));
  CHECK_FALSE(luhn_valid("400000000006"));  // Luhn-valid but Visa does not issue 12 digits
}

TEST_CASE("luhn rejects other characters and all zeros") {
  CHECK_FALSE(luhn_valid("4111.1111.1111.1111"));
  CHECK_FALSE(luhn_valid("4111x1111y1111z1111"));
  CHECK_FALSE(luhn_valid("0000 0000 0000 0000"));
}

// ----- IBAN -----

TEST_CASE("iban accepts valid numbers from several countries") {
  CHECK(iban_valid("GB82WEST12345698765432"));
  CHECK(iban_valid("DE89370400440532013000"));
  CHECK(iban_valid("FR1420041010050500013M02606"));
  CHECK(iban_valid("NO9386011117947"));                    // shortest: 15
  CHECK(iban_valid("LC55HEMM000100010012001200023015"));   // 32
  CHECK(iban_valid("RU0204452560040702810412345678901"));  // 33
}

TEST_CASE("iban accepts the space-grouped print form and lower case") {
  CHECK(iban_valid("GB82 WEST 1234 5698 7654 32"));
  CHECK(iban_valid("DE89 3704 0044 0532 0130 00"));
  CHECK(iban_valid("gb82west12345698765432"));
}

TEST_CASE("iban rejects a wrong check") {
  CHECK_FALSE(iban_valid("GB82WEST12345698765433"));
  CHECK_FALSE(iban_valid("GB28WEST12345698765432"));
}

TEST_CASE("iban rejects a length that is wrong for the country") {
  CHECK_FALSE(iban_valid("DE89 3704 0044 0532 0130 0"));
  CHECK_FALSE(iban_valid("GB82WEST123456987654321"));
}

TEST_CASE("iban rejects countries outside the registry") {
  CHECK_FALSE(iban_valid("XX82WEST12345698765432"));
  CHECK_FALSE(iban_valid("US64SVBKUS6S3300958879"));
}

TEST_CASE("iban rejects check digits 00, 01 and 99 even when mod-97 passes") {
  CHECK(iban_valid("GB97WEST12345698760021"));
  CHECK_FALSE(iban_valid("GB00WEST12345698760021"));
  CHECK(iban_valid("GB98WEST12345698760003"));
  CHECK_FALSE(iban_valid("GB01WEST12345698760003"));
}

TEST_CASE("iban rejects punctuation other than spaces") {
  CHECK_FALSE(iban_valid("GB82-WEST-1234-5698-7654-32"));
}

// ----- US SSN -----

TEST_CASE("us_ssn accepts dashed, spaced and bare forms") {
  CHECK(us_ssn_valid("536-22-1234"));
  CHECK(us_ssn_valid("536 22 1234"));
  CHECK(us_ssn_valid("536221234"));
}

TEST_CASE("us_ssn rejects area 000, 666 and 900-999") {
  CHECK_FALSE(us_ssn_valid("000-12-3456"));
  CHECK_FALSE(us_ssn_valid("666-12-3456"));
  CHECK_FALSE(us_ssn_valid("900-12-3456"));
  CHECK_FALSE(us_ssn_valid("987-65-4321"));
  CHECK(us_ssn_valid("899-12-3456"));
}

TEST_CASE("us_ssn rejects group 00 and serial 0000") {
  CHECK_FALSE(us_ssn_valid("536-00-1234"));
  CHECK_FALSE(us_ssn_valid("536-22-0000"));
}

TEST_CASE("us_ssn rejects well-known fake numbers") {
  CHECK_FALSE(us_ssn_valid("078-05-1120"));
  CHECK_FALSE(us_ssn_valid("219-09-9999"));
  CHECK_FALSE(us_ssn_valid("123-45-6789"));
  CHECK_FALSE(us_ssn_valid("111-11-1111"));
}

TEST_CASE("us_ssn rejects mixed separators and wrong shapes") {
  CHECK_FALSE(us_ssn_valid("536-22 1234"));
  CHECK_FALSE(us_ssn_valid("5362-2-1234"));
  CHECK_FALSE(us_ssn_valid("53622123"));
}

// ----- ABA routing -----

TEST_CASE("aba_routing accepts real routing numbers") {
  CHECK(aba_routing_valid("021000021"));
  CHECK(aba_routing_valid("011000015"));
  CHECK(aba_routing_valid("121000358"));
  CHECK(aba_routing_valid("322271627"));
}

TEST_CASE("aba_routing rejects a failing checksum") {
  CHECK_FALSE(aba_routing_valid("021000022"));
  CHECK_FALSE(aba_routing_valid("123456789"));
}

TEST_CASE("aba_routing rejects prefixes outside the Federal Reserve ranges") {
  CHECK_FALSE(aba_routing_valid("500000005"));  // checksum passes, prefix 50 does not exist
  CHECK_FALSE(aba_routing_valid("000000000"));
}

TEST_CASE("aba_routing needs exactly nine digits") {
  CHECK_FALSE(aba_routing_valid("02100002"));
  CHECK_FALSE(aba_routing_valid("0210000210"));
  CHECK_FALSE(aba_routing_valid("0210-0002-1"));
}

// ----- IPv4 -----

TEST_CASE("ipv4 accepts dotted quads with octets 0-255") {
  CHECK(ipv4_valid("192.168.1.1"));
  CHECK(ipv4_valid("0.0.0.0"));
  CHECK(ipv4_valid("255.255.255.255"));
  CHECK(ipv4_valid("8.8.8.8"));
}

TEST_CASE("ipv4 rejects octets over 255") {
  CHECK_FALSE(ipv4_valid("999.1.1.1"));
  CHECK_FALSE(ipv4_valid("1.2.3.256"));
}

TEST_CASE("ipv4 rejects leading zeros") {
  CHECK_FALSE(ipv4_valid("01.2.3.4"));
  CHECK_FALSE(ipv4_valid("1.2.3.004"));
}

TEST_CASE("ipv4 rejects other than four octets") {
  CHECK_FALSE(ipv4_valid("1.2.3.4.5"));
  CHECK_FALSE(ipv4_valid("1.2.3"));
  CHECK_FALSE(ipv4_valid("1.2.3."));
  CHECK_FALSE(ipv4_valid(".1.2.3"));
  CHECK_FALSE(ipv4_valid("1..2.3"));
  CHECK_FALSE(ipv4_valid("1.2.3.4 "));
}

// ----- IPv6 -----

TEST_CASE("ipv6 accepts the full eight-group form") {
  CHECK(ipv6_valid("2001:0db8:85a3:0000:0000:8a2e:0370:7334"));
  CHECK(ipv6_valid("6e40:4041:c617:e898:c11:40d2:c669:2eb4"));
  CHECK(ipv6_valid("1:2:3:4:5:6:7:8"));
}

TEST_CASE("ipv6 accepts one :: compression anywhere") {
  CHECK(ipv6_valid("2001:db8::1"));
  CHECK(ipv6_valid("::1"));
  CHECK(ipv6_valid("::"));
  CHECK(ipv6_valid("fe80::"));
  CHECK(ipv6_valid("1:2:3:4:5:6:7::"));
  CHECK(ipv6_valid("::2:3:4:5:6:7:8"));
}

TEST_CASE("ipv6 accepts an embedded IPv4 tail") {
  CHECK(ipv6_valid("::ffff:192.0.2.128"));
  CHECK(ipv6_valid("1:2:3:4:5:6:1.2.3.4"));
  CHECK(ipv6_valid("::1.2.3.4"));
}

TEST_CASE("ipv6 accepts a zone index") {
  CHECK(ipv6_valid("fe80::1%eth0"));
  CHECK(ipv6_valid("fe80::1%25"));
}

TEST_CASE("ipv6 rejects garbage, too few or too many groups") {
  CHECK_FALSE(ipv6_valid("::::"));
  CHECK_FALSE(ipv6_valid(":::"));
  CHECK_FALSE(ipv6_valid("1:2:3"));
  CHECK_FALSE(ipv6_valid("1:2:3:4:5:6:7:8:9"));
  CHECK_FALSE(ipv6_valid("1::2::3"));
  CHECK_FALSE(ipv6_valid("1:2:3:4:5:6:7:8::"));
  CHECK_FALSE(ipv6_valid(":1:2:3:4:5:6:7"));
  CHECK_FALSE(ipv6_valid("1:2:3:4:5:6:7:"));
  CHECK_FALSE(ipv6_valid("12345::"));
  CHECK_FALSE(ipv6_valid("g::1"));
  CHECK_FALSE(ipv6_valid("12:30:45"));
}

TEST_CASE("ipv6 rejects a misplaced or bad IPv4 tail and an empty zone") {
  CHECK_FALSE(ipv6_valid("1:2:3:4:5:6:7:1.2.3.4"));
  CHECK_FALSE(ipv6_valid("1.2.3.4::"));
  CHECK_FALSE(ipv6_valid("::1.2.3.256"));
  CHECK_FALSE(ipv6_valid("fe80::1%"));
}

// ----- MAC -----

TEST_CASE("mac accepts colon, dash and Cisco dotted forms") {
  CHECK(mac_valid("00:1A:2B:3C:4D:5E"));
  CHECK(mac_valid("00-1a-2b-3c-4d-5e"));
  CHECK(mac_valid("001a.2b3c.4d5e"));
}

TEST_CASE("mac rejects mixed separators and wrong octet counts") {
  CHECK_FALSE(mac_valid("00:1A-2B:3C:4D:5E"));
  CHECK_FALSE(mac_valid("00:1A:2B:3C:4D"));
  CHECK_FALSE(mac_valid("00:1A:2B:3C:4D:5E:6F"));
  CHECK_FALSE(mac_valid("00:1G:2B:3C:4D:5E"));
  CHECK_FALSE(mac_valid("001a.2b3c-4d5e"));
}

TEST_CASE("mac rejects the all-zero and broadcast addresses") {
  CHECK_FALSE(mac_valid("00:00:00:00:00:00"));
  CHECK_FALSE(mac_valid("ff:ff:ff:ff:ff:ff"));
}

// ----- crypto wallets -----

TEST_CASE("crypto_wallet accepts base58check P2PKH and P2SH addresses") {
  CHECK(crypto_wallet_valid("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"));
  CHECK(crypto_wallet_valid("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"));
}

TEST_CASE("crypto_wallet rejects a base58check address with a bad checksum") {
  CHECK_FALSE(crypto_wallet_valid("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"));
  CHECK_FALSE(crypto_wallet_valid("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLz"));
}

TEST_CASE("crypto_wallet rejects base58 characters outside the alphabet and bad lengths") {
  CHECK_FALSE(crypto_wallet_valid("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0"));  // '0' not in base58
  CHECK_FALSE(crypto_wallet_valid("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNaa"));
  CHECK_FALSE(crypto_wallet_valid("1A1zP1eP5QGefi2DMPTfTL5SL"));
}

TEST_CASE("crypto_wallet accepts bech32 v0 and bech32m v1 segwit addresses") {
  CHECK(crypto_wallet_valid("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"));
  CHECK(crypto_wallet_valid("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"));
  CHECK(crypto_wallet_valid("bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"));
  CHECK(crypto_wallet_valid("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"));
}

TEST_CASE("crypto_wallet rejects a segwit address with a bad checksum or mixed case") {
  CHECK_FALSE(crypto_wallet_valid("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"));
  CHECK_FALSE(crypto_wallet_valid("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7KV8F3T4"));
}

TEST_CASE("crypto_wallet rejects a checksum of the wrong variant for the witness version") {
  // A v1 program checksummed with bech32 (BIP-350 forbids it), and a v0 one with bech32m.
  CHECK_FALSE(crypto_wallet_valid("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd"));
  CHECK_FALSE(crypto_wallet_valid("BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL"));
  CHECK_FALSE(crypto_wallet_valid("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh"));
}

TEST_CASE("crypto_wallet rejects segwit addresses breaking the BIP-350 program rules") {
  // From BIP-350's invalid list: bad witness version, program too short, wrong v0 length,
  // padding over 4 bits, invalid checksum character, empty data.
  CHECK_FALSE(crypto_wallet_valid("BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R"));
  CHECK_FALSE(crypto_wallet_valid("bc1pw5dgrnzv"));
  CHECK_FALSE(crypto_wallet_valid("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P"));
  CHECK_FALSE(crypto_wallet_valid("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf"));
  CHECK_FALSE(crypto_wallet_valid("bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4"));
  CHECK_FALSE(crypto_wallet_valid("bc1gmk9yu"));
}

TEST_CASE("crypto_wallet accepts Ethereum addresses in one case or with a valid EIP-55 checksum") {
  CHECK(crypto_wallet_valid("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"));
  CHECK(crypto_wallet_valid("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"));
  CHECK(crypto_wallet_valid("0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"));
  CHECK(crypto_wallet_valid("0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"));
  CHECK(crypto_wallet_valid("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"));
  CHECK(crypto_wallet_valid("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"));
}

TEST_CASE("crypto_wallet rejects an Ethereum address whose mixed case breaks EIP-55") {
  CHECK_FALSE(crypto_wallet_valid("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"));
  CHECK_FALSE(crypto_wallet_valid("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"));
}

TEST_CASE("crypto_wallet rejects Ethereum-like strings of the wrong length or alphabet") {
  CHECK_FALSE(crypto_wallet_valid("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae"));
  CHECK_FALSE(crypto_wallet_valid("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaedd"));
  CHECK_FALSE(crypto_wallet_valid("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg"));
}

// ----- UK NINO -----

TEST_CASE("uk_nino accepts valid numbers with or without spaces") {
  CHECK(uk_nino_valid("AB123456C"));
  CHECK(uk_nino_valid("AB 12 34 56 C"));
  CHECK(uk_nino_valid("JG103759A"));
  CHECK(uk_nino_valid("jg103759a"));
}

TEST_CASE("uk_nino rejects forbidden first and second letters") {
  CHECK_FALSE(uk_nino_valid("QQ123456C"));
  CHECK_FALSE(uk_nino_valid("DA123456C"));
  CHECK_FALSE(uk_nino_valid("AO123456C"));
  CHECK_FALSE(uk_nino_valid("AV123456C"));
}

TEST_CASE("uk_nino rejects the reserved prefixes") {
  for (const char* prefix : {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}) {
    CHECK_FALSE(uk_nino_valid(std::string(prefix) + "123456A"));
  }
}

TEST_CASE("uk_nino rejects a suffix outside A-D and wrong digit counts") {
  CHECK_FALSE(uk_nino_valid("AB123456E"));
  CHECK_FALSE(uk_nino_valid("AB12345C"));
  CHECK_FALSE(uk_nino_valid("AB1234567C"));
}

// ----- phone -----

TEST_CASE("phone accepts national formats") {
  CHECK(phone_valid("905-674-3793"));
  CHECK(phone_valid("(579)888-3058"));
  CHECK(phone_valid("(08) 8747 6301"));
  CHECK(phone_valid("0490 75 40 81"));
  CHECK(phone_valid("03.93.92.16.85"));
  CHECK(phone_valid("467 3395"));
  CHECK(phone_valid("9498777106"));
  CHECK(phone_valid("030/1234567"));
}

TEST_CASE("phone accepts international formats") {
  CHECK(phone_valid("+1-984-182-0190"));
  CHECK(phone_valid("+46 (0)8 928 571 38"));
  CHECK(phone_valid("+447700 921 916"));
  CHECK(phone_valid("+447700677662"));
  CHECK(phone_valid("001-518-640-0854"));
  CHECK(phone_valid("+86 138 0013 8000"));
}

TEST_CASE("phone accepts extensions") {
  CHECK(phone_valid("345-899-3560x4587"));
  CHECK(phone_valid("+1-903-140-4508x769"));
  CHECK(phone_valid("555-201-3344 ext. 12"));
  CHECK(phone_valid("555-201-3344 extension 12"));
  CHECK(phone_valid("555-201-3344 #12"));
}

TEST_CASE("phone rejects fewer than 7 or more than 15 digits") {
  CHECK_FALSE(phone_valid("555-123"));
  CHECK_FALSE(phone_valid("+1 234 567 890 123 456"));
}

TEST_CASE("phone rejects a number made of one repeated digit") {
  CHECK_FALSE(phone_valid("000-000-0000"));
  CHECK_FALSE(phone_valid("1111111"));
}

TEST_CASE("phone rejects dates") {
  CHECK_FALSE(phone_valid("2021-03-04"));
  CHECK_FALSE(phone_valid("12.03.1990"));
  CHECK_FALSE(phone_valid("12/03/1990"));
  CHECK_FALSE(phone_valid("2021-03-04 12"));
}

TEST_CASE("phone rejects IP addresses, version numbers, SSN and ZIP+4 shapes") {
  CHECK_FALSE(phone_valid("192.168.100.200"));
  CHECK_FALSE(phone_valid("10.20.300.400"));
  CHECK_FALSE(phone_valid("536-22-1234"));
  CHECK_FALSE(phone_valid("90210-1234"));
}

TEST_CASE("phone rejects stray characters, bad parentheses and bad extensions") {
  CHECK_FALSE(phone_valid("555-201-3344y12"));
  CHECK_FALSE(phone_valid("(555 201-3344"));
  CHECK_FALSE(phone_valid("555) 201-3344"));
  CHECK_FALSE(phone_valid("555-201-3344 x"));
  CHECK_FALSE(phone_valid("555_201_3344"));
  CHECK_FALSE(phone_valid("5+55-201-3344"));
}

// ----- date -----

TEST_CASE("date accepts numeric formats") {
  CHECK(date_valid("1990-03-12"));
  CHECK(date_valid("12/03/1990"));
  CHECK(date_valid("03/25/1990"));  // M/D/Y
  CHECK(date_valid("25/03/1990"));  // D/M/Y
  CHECK(date_valid("12.03.1990"));
  CHECK(date_valid("1.3.1990"));
}

TEST_CASE("date accepts written formats") {
  CHECK(date_valid("12 March 1990"));
  CHECK(date_valid("March 12, 1990"));
  CHECK(date_valid("12th of March 1990"));
  CHECK(date_valid("Mar 12 1990"));
  CHECK(date_valid("12-Mar-1990"));
  CHECK(date_valid("12 de marzo de 1990"));
  CHECK(date_valid("12 mars 1990"));
  CHECK(date_valid("1er f\xC3\xA9vrier 1990"));
  CHECK(date_valid("12. M\xC3\xA4rz 1990"));
  CHECK(date_valid("12. M\xC3\x84RZ 1990"));
}

TEST_CASE("date rejects days that do not exist") {
  CHECK_FALSE(date_valid("1990-02-30"));
  CHECK_FALSE(date_valid("31/04/1990"));
  CHECK_FALSE(date_valid("32.01.1990"));
  CHECK_FALSE(date_valid("1990-13-01"));
  CHECK_FALSE(date_valid("31 June 1990"));
}

TEST_CASE("date knows leap years") {
  CHECK(date_valid("2000-02-29"));
  CHECK(date_valid("2024-02-29"));
  CHECK_FALSE(date_valid("1900-02-29"));
  CHECK_FALSE(date_valid("2023-02-29"));
}

TEST_CASE("date rejects years outside 1900-2100") {
  CHECK_FALSE(date_valid("1899-12-31"));
  CHECK_FALSE(date_valid("2101-01-01"));
  CHECK(date_valid("2100-12-31"));
}

TEST_CASE("date rejects mixed separators, extra parts and non-dates") {
  CHECK_FALSE(date_valid("1990-03/12"));
  CHECK_FALSE(date_valid("12 03 1990"));
  CHECK_FALSE(date_valid("1990-03-12-5"));
  CHECK_FALSE(date_valid("12 Smarch 1990"));
  CHECK_FALSE(date_valid("March 1990"));
  CHECK_FALSE(date_valid("1.2.3"));
}
