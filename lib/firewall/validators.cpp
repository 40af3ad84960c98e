#include "firewall/validators.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "firewall/sha256.hpp"

// ---------------------------------------------------------------------------------------------
// Keccak-256 (the Keccak submission as Ethereum uses it), written from the Keccak reference:
// Keccak-f[1600], rate 1088 bits, capacity 512, multi-rate padding with domain byte 0x01.
// ---------------------------------------------------------------------------------------------
namespace keel::detail {

namespace {

constexpr std::array<std::uint64_t, 24> kKeccakRound = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL, 0x8000000080008000ULL,
    0x000000000000808BULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008AULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
    0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800AULL, 0x800000008000000AULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

// Rotation offsets r[x, y], indexed x + 5 * y.
constexpr std::array<unsigned, 25> kKeccakRho = {
    0,  1,  62, 28, 27,  //
    36, 44, 6,  55, 20,  //
    3,  10, 43, 25, 39,  //
    41, 45, 15, 21, 8,   //
    18, 2,  61, 56, 14,  //
};

constexpr std::uint64_t rotl64(std::uint64_t x, unsigned n) noexcept {
  return n == 0 ? x : (x << n) | (x >> (64U - n));
}

void keccak_f1600(std::array<std::uint64_t, 25>& a) noexcept {
  for (std::uint64_t rc : kKeccakRound) {
    // theta
    std::array<std::uint64_t, 5> c{};
    for (std::size_t x = 0; x < 5; ++x) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
    for (std::size_t x = 0; x < 5; ++x) {
      const std::uint64_t d = c[(x + 4) % 5] ^ rotl64(c[(x + 1) % 5], 1);
      for (std::size_t y = 0; y < 5; ++y) a[x + 5 * y] ^= d;
    }
    // rho and pi: B[y, 2x + 3y] = rot(A[x, y], r[x, y])
    std::array<std::uint64_t, 25> b{};
    for (std::size_t x = 0; x < 5; ++x) {
      for (std::size_t y = 0; y < 5; ++y) {
        b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl64(a[x + 5 * y], kKeccakRho[x + 5 * y]);
      }
    }
    // chi
    for (std::size_t x = 0; x < 5; ++x) {
      for (std::size_t y = 0; y < 5; ++y) {
        a[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);
      }
    }
    // iota
    a[0] ^= rc;
  }
}

void keccak_absorb_block(std::array<std::uint64_t, 25>& state, const unsigned char* block,
                         std::size_t rate) noexcept {
  for (std::size_t lane = 0; lane < rate / 8; ++lane) {
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < 8; ++k) v |= std::uint64_t{block[8 * lane + k]} << (8 * k);
    state[lane] ^= v;
  }
  keccak_f1600(state);
}

}  // namespace

std::array<unsigned char, 32> keccak256(std::string_view data) noexcept {
  constexpr std::size_t kRate = 136;
  std::array<std::uint64_t, 25> state{};
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t size = data.size();
  while (size >= kRate) {
    keccak_absorb_block(state, bytes, kRate);
    bytes += kRate;
    size -= kRate;
  }
  std::array<unsigned char, kRate> last{};
  if (size > 0) std::memcpy(last.data(), bytes, size);
  last[size] ^= 0x01;
  last[kRate - 1] ^= 0x80;
  keccak_absorb_block(state, last.data(), kRate);

  std::array<unsigned char, 32> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<unsigned char>(state[i / 8] >> (8 * (i % 8)));
  }
  return out;
}

}  // namespace keel::detail

namespace keel::firewall {

namespace {

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_upper(char c) noexcept { return c >= 'A' && c <= 'Z'; }
constexpr bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }
constexpr bool is_alpha(char c) noexcept { return is_upper(c) || is_lower(c); }
constexpr char to_upper(char c) noexcept { return is_lower(c) ? static_cast<char>(c - 32) : c; }
constexpr char to_lower(char c) noexcept { return is_upper(c) ? static_cast<char>(c + 32) : c; }
constexpr int digit_value(char c) noexcept { return c - '0'; }

constexpr int hex_value(char c) noexcept {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr bool is_hex(char c) noexcept { return hex_value(c) >= 0; }

bool all_digits(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// ----- calendar -----

constexpr bool is_leap(int year) noexcept {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

constexpr bool real_date(int year, int month, int day) noexcept {
  if (year < 1900 || year > 2100 || month < 1 || month > 12 || day < 1) return false;
  constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int days = kDays[static_cast<std::size_t>(month - 1)];
  if (month == 2 && is_leap(year)) days = 29;
  return day <= days;
}

// ----- IBAN registry -----

struct IbanCountry {
  char code[3];
  unsigned char length;
};

// SWIFT IBAN registry: country code and total IBAN length.
constexpr IbanCountry kIbanCountries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
    {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
    {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
    {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
    {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HN", 28}, {"HR", 21},
    {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30},
    {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
    {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23},
    {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22},
    {"RU", 33}, {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24},
    {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26},
    {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

int iban_length_for(char a, char b) noexcept {
  for (const auto& country : kIbanCountries) {
    if (country.code[0] == a && country.code[1] == b) return country.length;
  }
  return 0;
}

// ----- base58check -----

constexpr std::string_view kBase58Alphabet =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

int base58_value(char c) noexcept {
  const auto pos = kBase58Alphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

bool bitcoin_base58_valid(std::string_view s) noexcept {
  if (s.size() < 26 || s.size() > 35) return false;
  // Decode into a 25-byte big-endian number; overflow means too long.
  std::array<unsigned char, 25> out{};
  for (char c : s) {
    const int v = base58_value(c);
    if (v < 0) return false;
    unsigned carry = static_cast<unsigned>(v);
    for (std::size_t j = out.size(); j-- > 0;) {
      carry += 58U * out[j];
      out[j] = static_cast<unsigned char>(carry & 0xFFU);
      carry >>= 8;
    }
    if (carry != 0) return false;
  }
  // Each leading '1' stands for one leading zero byte; the rest must fill the 25 bytes exactly.
  std::size_t leading_ones = 0;
  while (leading_ones < s.size() && s[leading_ones] == '1') ++leading_ones;
  std::size_t leading_zero_bytes = 0;
  while (leading_zero_bytes < out.size() && out[leading_zero_bytes] == 0) ++leading_zero_bytes;
  if (leading_zero_bytes != leading_ones) return false;
  if (out[0] != 0x00 && out[0] != 0x05) return false;

  const std::string_view payload(reinterpret_cast<const char*>(out.data()), 21);
  const auto first = detail::sha256(payload);
  const auto second =
      detail::sha256(std::string_view(reinterpret_cast<const char*>(first.data()), first.size()));
  return std::memcmp(second.data(), out.data() + 21, 4) == 0;
}

// ----- bech32 / bech32m -----

constexpr std::string_view kBech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr std::uint32_t kBech32Const = 1;
constexpr std::uint32_t kBech32mConst = 0x2bc830a3;

std::uint32_t bech32_polymod_step(std::uint32_t chk, std::uint32_t value) noexcept {
  constexpr std::array<std::uint32_t, 5> kGen = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                                 0x2a1462b3};
  const std::uint32_t top = chk >> 25;
  chk = ((chk & 0x1ffffffU) << 5) ^ value;
  for (std::size_t i = 0; i < 5; ++i) {
    if ((top >> i) & 1U) chk ^= kGen[i];
  }
  return chk;
}

bool bitcoin_segwit_valid(std::string_view s) noexcept {
  if (s.size() < 14 || s.size() > 90) return false;
  bool has_lower = false, has_upper = false;
  for (char c : s) {
    if (is_lower(c)) has_lower = true;
    if (is_upper(c)) has_upper = true;
  }
  if (has_lower && has_upper) return false;
  if (to_lower(s[0]) != 'b' || to_lower(s[1]) != 'c' || s[2] != '1') return false;

  // Data part: everything after the separator, 5-bit values.
  const std::string_view data = s.substr(3);
  if (data.size() < 6 + 1) return false;  // witness version + checksum at least
  std::array<unsigned char, 90> values{};
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto pos = kBech32Charset.find(to_lower(data[i]));
    if (pos == std::string_view::npos) return false;
    values[i] = static_cast<unsigned char>(pos);
  }

  // Checksum over the expanded human-readable part "bc" and the data.
  std::uint32_t chk = 1;
  constexpr char kHrp[] = {'b', 'c'};
  for (char c : kHrp) chk = bech32_polymod_step(chk, static_cast<std::uint32_t>(c) >> 5);
  chk = bech32_polymod_step(chk, 0);
  for (char c : kHrp) chk = bech32_polymod_step(chk, static_cast<std::uint32_t>(c) & 31U);
  for (std::size_t i = 0; i < data.size(); ++i) chk = bech32_polymod_step(chk, values[i]);

  const unsigned witness_version = values[0];
  if (witness_version > 16) return false;
  if (witness_version == 0 && chk != kBech32Const) return false;
  if (witness_version != 0 && chk != kBech32mConst) return false;

  // Witness program: the 5-bit groups between version and checksum, regrouped into bytes.
  const std::size_t groups = data.size() - 1 - 6;
  std::uint32_t acc = 0;
  unsigned bits = 0;
  std::size_t program_bytes = 0;
  for (std::size_t i = 1; i <= groups; ++i) {
    acc = ((acc << 5) | values[i]) & 0xFFFU;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      ++program_bytes;
    }
  }
  // Padding must be under 5 bits and zero.
  if (bits >= 5) return false;
  if ((acc & ((1U << bits) - 1U)) != 0) return false;
  if (program_bytes < 2 || program_bytes > 40) return false;
  if (witness_version == 0 && program_bytes != 20 && program_bytes != 32) return false;
  return true;
}

// ----- Ethereum -----

bool ethereum_valid(std::string_view s) noexcept {
  if (s.size() != 42 || s[0] != '0' || s[1] != 'x') return false;
  const std::string_view hex = s.substr(2);
  bool has_lower = false, has_upper = false;
  for (char c : hex) {
    if (!is_hex(c)) return false;
    if (is_lower(c)) has_lower = true;
    if (is_upper(c)) has_upper = true;
  }
  if (!(has_lower && has_upper)) return true;  // one case: no checksum to check
  // EIP-55: a letter is upper case exactly when the matching nibble of
  // keccak256(lower-case hex address) is 8 or more.
  std::array<char, 40> lower{};
  for (std::size_t i = 0; i < 40; ++i) lower[i] = to_lower(hex[i]);
  const auto hash = detail::keccak256(std::string_view(lower.data(), lower.size()));
  for (std::size_t i = 0; i < 40; ++i) {
    if (!is_alpha(hex[i])) continue;
    const unsigned nibble = (i % 2 == 0) ? (hash[i / 2] >> 4) : (hash[i / 2] & 0x0FU);
    if ((nibble >= 8) != is_upper(hex[i])) return false;
  }
  return true;
}

// ----- dates -----

struct MonthName {
  std::string_view name;  // lower case, UTF-8
  int month;
};

constexpr MonthName kMonthNames[] = {
    // English
    {"january", 1}, {"february", 2}, {"march", 3}, {"april", 4}, {"may", 5}, {"june", 6},
    {"july", 7}, {"august", 8}, {"september", 9}, {"october", 10}, {"november", 11},
    {"december", 12}, {"jan", 1}, {"feb", 2}, {"mar", 3}, {"apr", 4}, {"jun", 6}, {"jul", 7},
    {"aug", 8}, {"sep", 9}, {"sept", 9}, {"oct", 10}, {"nov", 11}, {"dec", 12},
    // Spanish
    {"enero", 1}, {"febrero", 2}, {"marzo", 3}, {"abril", 4}, {"mayo", 5}, {"junio", 6},
    {"julio", 7}, {"agosto", 8}, {"septiembre", 9}, {"setiembre", 9}, {"octubre", 10},
    {"noviembre", 11}, {"diciembre", 12}, {"ene", 1}, {"abr", 4}, {"ago", 8}, {"dic", 12},
    // French
    {"janvier", 1}, {"f\xC3\xA9vrier", 2}, {"fevrier", 2}, {"mars", 3}, {"avril", 4}, {"mai", 5},
    {"juin", 6}, {"juillet", 7}, {"ao\xC3\xBBt", 8}, {"aout", 8}, {"septembre", 9},
    {"octobre", 10}, {"novembre", 11}, {"d\xC3\xA9" "cembre", 12}, {"decembre", 12}, {"janv", 1},
    {"f\xC3\xA9vr", 2}, {"fevr", 2}, {"avr", 4}, {"juil", 7}, {"d\xC3\xA9" "c", 12},
    // German
    {"januar", 1}, {"j\xC3\xA4nner", 1}, {"jaenner", 1}, {"februar", 2}, {"m\xC3\xA4rz", 3},
    {"maerz", 3}, {"juni", 6}, {"juli", 7}, {"oktober", 10}, {"dezember", 12},
    {"j\xC3\xA4n", 1}, {"m\xC3\xA4r", 3}, {"mrz", 3}, {"okt", 10}, {"dez", 12},
    // Italian
    {"gennaio", 1}, {"febbraio", 2}, {"aprile", 4}, {"maggio", 5}, {"giugno", 6}, {"luglio", 7},
    {"settembre", 9}, {"ottobre", 10}, {"dicembre", 12}, {"gen", 1}, {"mag", 5}, {"giu", 6},
    {"lug", 7}, {"set", 9}, {"ott", 10},
    // Portuguese
    {"janeiro", 1}, {"fevereiro", 2}, {"mar\xC3\xA7o", 3}, {"marco", 3}, {"maio", 5},
    {"junho", 6}, {"julho", 7}, {"setembro", 9}, {"outubro", 10}, {"novembro", 11},
    {"dezembro", 12}, {"fev", 2}, {"out", 10},
};

// Words that may stand between the parts of a written date.
constexpr std::string_view kDateFillers[] = {"of", "the", "de", "del"};

// Lower-cases ASCII letters and the Latin-1 capitals encoded as C3 80..9E (except U+00D7 ×).
// Returns the length written, or 0 when the word does not fit.
std::size_t fold_word(std::string_view word, char* out, std::size_t cap) noexcept {
  if (word.size() > cap) return 0;
  for (std::size_t i = 0; i < word.size(); ++i) {
    char c = word[i];
    if (i > 0 && static_cast<unsigned char>(word[i - 1]) == 0xC3) {
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x80 && u <= 0x9E && u != 0x97) c = static_cast<char>(u + 0x20);
    } else {
      c = to_lower(c);
    }
    out[i] = c;
  }
  return word.size();
}

int month_from_name(std::string_view word) noexcept {
  char buf[16];
  const std::size_t n = fold_word(word, buf, sizeof buf);
  if (n == 0) return 0;
  const std::string_view folded(buf, n);
  for (const auto& m : kMonthNames) {
    if (m.name == folded) return m.month;
  }
  return 0;
}

bool is_date_filler(std::string_view word) noexcept {
  char buf[8];
  const std::size_t n = fold_word(word, buf, sizeof buf);
  if (n == 0) return false;
  const std::string_view folded(buf, n);
  for (auto f : kDateFillers) {
    if (f == folded) return true;
  }
  return false;
}

bool is_ordinal_suffix(std::string_view word) noexcept {
  char buf[4];
  const std::size_t n = fold_word(word, buf, sizeof buf);
  if (n == 0) return false;
  const std::string_view folded(buf, n);
  return folded == "st" || folded == "nd" || folded == "rd" || folded == "th" || folded == "er" ||
         folded == "\xC2\xBA" || folded == "\xC2\xAA";  // 1er, 1º
}

constexpr bool is_word_byte(char c) noexcept {
  return is_alpha(c) || static_cast<unsigned char>(c) >= 0x80;
}

bool numeric_date_valid(int a, std::size_t a_len, int b, std::size_t b_len, int c,
                        std::size_t c_len) noexcept {
  if (a_len == 4 && b_len <= 2 && c_len <= 2) return real_date(a, b, c);  // Y-M-D
  if (a_len <= 2 && b_len <= 2 && c_len == 4) {
    return real_date(c, b, a) || real_date(c, a, b);  // D/M/Y or M/D/Y
  }
  return false;
}

// ----- phone helpers -----

constexpr bool is_phone_separator(char c) noexcept {
  return c == ' ' || c == '-' || c == '.' || c == '/';
}

// True when s (the main part of a phone candidate) starts with a numeric date: three digit groups
// joined by the same one of - . / in Y-M-D or D-M-Y / M-D-Y shape.
bool starts_with_numeric_date(std::string_view s) noexcept {
  int values[3] = {0, 0, 0};
  std::size_t lens[3] = {0, 0, 0};
  char sep = 0;
  std::size_t i = 0;
  for (int g = 0; g < 3; ++g) {
    std::size_t len = 0;
    int v = 0;
    while (i < s.size() && is_digit(s[i])) {
      if (len < 5) v = v * 10 + digit_value(s[i]);
      ++len;
      ++i;
    }
    if (len == 0 || len > 4) return false;
    values[g] = v;
    lens[g] = len;
    if (g < 2) {
      if (i >= s.size()) return false;
      const char c = s[i];
      if (c != '-' && c != '.' && c != '/') return false;
      if (sep != 0 && c != sep) return false;
      sep = c;
      ++i;
    }
  }
  return numeric_date_valid(values[0], lens[0], values[1], lens[1], values[2], lens[2]);
}

bool looks_like_dotted_quad(std::string_view s) noexcept {
  std::size_t groups = 0, len = 0;
  for (char c : s) {
    if (is_digit(c)) {
      if (++len > 3) return false;
    } else if (c == '.') {
      if (len == 0) return false;
      ++groups;
      len = 0;
    } else {
      return false;
    }
  }
  return len > 0 && groups == 3;
}

// Digit-group shape check: s is exactly groups of the given lengths joined by sep.
bool has_shape(std::string_view s, std::initializer_list<std::size_t> lens, char sep) noexcept {
  std::size_t i = 0, g = 0;
  for (std::size_t len : lens) {
    if (g++ > 0) {
      if (i >= s.size() || s[i] != sep) return false;
      ++i;
    }
    for (std::size_t k = 0; k < len; ++k, ++i) {
      if (i >= s.size() || !is_digit(s[i])) return false;
    }
  }
  return i == s.size();
}

bool ieq(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

// Extension: marker ("x", "ext", "ext.", "extension", "#"), optional spaces, 1-6 digits.
bool valid_extension(std::string_view ext) noexcept {
  std::size_t i = 0;
  while (i < ext.size() && (is_alpha(ext[i]) || ext[i] == '#' || ext[i] == '.')) ++i;
  const std::string_view marker = ext.substr(0, i);
  if (!(ieq(marker, "x") || ieq(marker, "ext") || ieq(marker, "ext.") ||
        ieq(marker, "extension") || marker == "#")) {
    return false;
  }
  while (i < ext.size() && ext[i] == ' ') ++i;
  const std::string_view digits = ext.substr(i);
  return digits.size() >= 1 && digits.size() <= 6 && all_digits(digits);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::optional<Validator> validator_from_name(std::string_view name) {
  static constexpr std::pair<std::string_view, Validator> kNames[] = {
      {"none", Validator::none},
      {"", Validator::none},
      {"luhn", Validator::luhn},
      {"iban", Validator::iban},
      {"us_ssn", Validator::us_ssn},
      {"aba_routing", Validator::aba_routing},
      {"ipv4", Validator::ipv4},
      {"ipv6", Validator::ipv6},
      {"mac", Validator::mac},
      {"crypto_wallet", Validator::crypto_wallet},
      {"uk_nino", Validator::uk_nino},
      {"phone", Validator::phone},
      {"date", Validator::date},
  };
  for (const auto& [n, v] : kNames) {
    if (n == name) return v;
  }
  return std::nullopt;
}

std::string_view validator_name(Validator v) {
  switch (v) {
    case Validator::none: return "none";
    case Validator::luhn: return "luhn";
    case Validator::iban: return "iban";
    case Validator::us_ssn: return "us_ssn";
    case Validator::aba_routing: return "aba_routing";
    case Validator::ipv4: return "ipv4";
    case Validator::ipv6: return "ipv6";
    case Validator::mac: return "mac";
    case Validator::crypto_wallet: return "crypto_wallet";
    case Validator::uk_nino: return "uk_nino";
    case Validator::phone: return "phone";
    case Validator::date: return "date";
  }
  return "unknown";
}

bool validate(Validator v, std::string_view value) noexcept {
  switch (v) {
    case Validator::none: return true;
    case Validator::luhn: return luhn_valid(value);
    case Validator::iban: return iban_valid(value);
    case Validator::us_ssn: return us_ssn_valid(value);
    case Validator::aba_routing: return aba_routing_valid(value);
    case Validator::ipv4: return ipv4_valid(value);
    case Validator::ipv6: return ipv6_valid(value);
    case Validator::mac: return mac_valid(value);
    case Validator::crypto_wallet: return crypto_wallet_valid(value);
    case Validator::uk_nino: return uk_nino_valid(value);
    case Validator::phone: return phone_valid(value);
    case Validator::date: return date_valid(value);
  }
  return false;
}

bool luhn_valid(std::string_view s) noexcept {
  std::array<int, 19> digits{};
  std::size_t count = 0;
  for (char c : s) {
    if (is_digit(c)) {
      if (count == digits.size()) return false;
      digits[count++] = digit_value(c);
    } else if (c != ' ' && c != '-') {
      return false;
    }
  }
  if (count < 12) return false;
  if (count == 12) {
    // Maestro issues 12-digit cards under its 50 and 56-69 prefixes.
    const bool maestro = (digits[0] == 5 && (digits[1] == 0 || (digits[1] >= 6 && digits[1] <= 8))) ||
                         digits[0] == 6;
    if (!maestro) return false;
  }
  int sum = 0;
  bool any_nonzero = false;
  for (std::size_t k = 0; k < count; ++k) {
    int d = digits[count - 1 - k];
    if (d != 0) any_nonzero = true;
    if (k % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return any_nonzero && sum % 10 == 0;
}

bool iban_valid(std::string_view s) noexcept {
  std::array<char, 34> buf{};
  std::size_t n = 0;
  for (char c : s) {
    if (c == ' ') continue;
    if (!is_digit(c) && !is_alpha(c)) return false;
    if (n == buf.size()) return false;
    buf[n++] = to_upper(c);
  }
  if (n < 15) return false;
  if (!is_upper(buf[0]) || !is_upper(buf[1]) || !is_digit(buf[2]) || !is_digit(buf[3])) return false;
  if (static_cast<std::size_t>(iban_length_for(buf[0], buf[1])) != n) return false;
  const int check = digit_value(buf[2]) * 10 + digit_value(buf[3]);
  if (check < 2 || check > 98) return false;
  unsigned remainder = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const char c = buf[(k + 4) % n];  // BBAN first, then country code and check digits
    if (is_digit(c)) {
      remainder = (remainder * 10 + static_cast<unsigned>(digit_value(c))) % 97;
    } else {
      remainder = (remainder * 100 + static_cast<unsigned>(c - 'A' + 10)) % 97;
    }
  }
  return remainder == 1;
}

bool us_ssn_valid(std::string_view s) noexcept {
  std::array<char, 9> d{};
  if (s.size() == 9) {
    if (!all_digits(s)) return false;
    for (std::size_t i = 0; i < 9; ++i) d[i] = s[i];
  } else if (s.size() == 11) {
    const char sep = s[3];
    if ((sep != '-' && sep != ' ') || s[6] != sep) return false;
    std::size_t n = 0;
    for (std::size_t i = 0; i < 11; ++i) {
      if (i == 3 || i == 6) continue;
      if (!is_digit(s[i])) return false;
      d[n++] = s[i];
    }
  } else {
    return false;
  }
  const std::string_view v(d.data(), d.size());
  const int area = digit_value(d[0]) * 100 + digit_value(d[1]) * 10 + digit_value(d[2]);
  const int group = digit_value(d[3]) * 10 + digit_value(d[4]);
  const int serial = digit_value(d[5]) * 1000 + digit_value(d[6]) * 100 + digit_value(d[7]) * 10 +
                     digit_value(d[8]);
  if (area == 0 || area == 666 || area >= 900) return false;
  if (group == 0 || serial == 0) return false;
  // Numbers published in advertising or used as examples so often that they identify no one.
  if (v == "078051120" || v == "219099999" || v == "123456789") return false;
  bool same = true;
  for (char c : d) same = same && c == d[0];
  return !same;
}

bool aba_routing_valid(std::string_view s) noexcept {
  if (s.size() != 9 || !all_digits(s)) return false;
  const int prefix = digit_value(s[0]) * 10 + digit_value(s[1]);
  const bool fed_range = prefix <= 12 || (prefix >= 21 && prefix <= 32) ||
                         (prefix >= 61 && prefix <= 72) || prefix == 80;
  if (!fed_range) return false;
  constexpr std::array<int, 9> kWeights = {3, 7, 1, 3, 7, 1, 3, 7, 1};
  int sum = 0;
  bool any_nonzero = false;
  for (std::size_t i = 0; i < 9; ++i) {
    sum += kWeights[i] * digit_value(s[i]);
    if (s[i] != '0') any_nonzero = true;
  }
  return any_nonzero && sum % 10 == 0;
}

bool ipv4_valid(std::string_view s) noexcept {
  std::size_t octets = 0, i = 0;
  while (true) {
    const std::size_t start = i;
    int value = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 4) value = value * 10 + digit_value(s[i++]);
    const std::size_t len = i - start;
    if (len == 0 || len > 3 || value > 255) return false;
    if (len > 1 && s[start] == '0') return false;  // no leading zeros
    ++octets;
    if (i == s.size()) break;
    if (s[i] != '.' || octets == 4) return false;
    ++i;
  }
  return octets == 4;
}

namespace {

// Counts the 16-bit groups of a colon-separated run of IPv6 groups ("1:2:3"); an embedded IPv4
// address is allowed as the last piece when allow_ipv4 is set and counts for two. An empty run
// counts zero. Returns -1 when the run is malformed.
int ipv6_group_count(std::string_view run, bool allow_ipv4) noexcept {
  if (run.empty()) return 0;
  int count = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t colon = run.find(':', start);
    const std::string_view piece =
        run.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
    const bool last = colon == std::string_view::npos;
    if (piece.empty()) return -1;
    if (last && allow_ipv4 && piece.find('.') != std::string_view::npos) {
      if (!ipv4_valid(piece)) return -1;
      count += 2;
    } else {
      if (piece.size() > 4) return -1;
      for (char c : piece) {
        if (!is_hex(c)) return -1;
      }
      count += 1;
    }
    if (count > 8) return -1;
    if (last) break;
    start = colon + 1;
  }
  return count;
}

}  // namespace

bool ipv6_valid(std::string_view s) noexcept {
  const std::size_t percent = s.find('%');
  if (percent != std::string_view::npos) {
    const std::string_view zone = s.substr(percent + 1);
    if (zone.empty() || zone.size() > 64) return false;
    for (char c : zone) {
      if (!(is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '-' || c == '~')) return false;
    }
    s = s.substr(0, percent);
  }
  if (s.size() < 2 || s.size() > 45) return false;
  const std::size_t gap = s.find("::");
  if (gap == std::string_view::npos) return ipv6_group_count(s, true) == 8;
  if (s.find("::", gap + 1) != std::string_view::npos) return false;  // one "::" only (and no ":::")
  const int head = ipv6_group_count(s.substr(0, gap), false);
  const int tail = ipv6_group_count(s.substr(gap + 2), true);
  return head >= 0 && tail >= 0 && head + tail <= 7;
}

bool mac_valid(std::string_view s) noexcept {
  std::array<int, 12> nibbles{};
  std::size_t n = 0;
  if (s.size() == 17) {
    const char sep = s[2];
    if (sep != ':' && sep != '-') return false;
    for (std::size_t i = 0; i < 17; ++i) {
      if (i % 3 == 2) {
        if (s[i] != sep) return false;
      } else {
        const int v = hex_value(s[i]);
        if (v < 0) return false;
        nibbles[n++] = v;
      }
    }
  } else if (s.size() == 14) {
    for (std::size_t i = 0; i < 14; ++i) {
      if (i == 4 || i == 9) {
        if (s[i] != '.') return false;
      } else {
        const int v = hex_value(s[i]);
        if (v < 0) return false;
        nibbles[n++] = v;
      }
    }
  } else {
    return false;
  }
  bool all_zero = true, all_ones = true;
  for (int v : nibbles) {
    all_zero = all_zero && v == 0;
    all_ones = all_ones && v == 15;
  }
  return !all_zero && !all_ones;
}

bool crypto_wallet_valid(std::string_view s) noexcept {
  if (s.size() >= 2 && s[0] == '0' && s[1] == 'x') return ethereum_valid(s);
  if (s.size() >= 3 && to_lower(s[0]) == 'b' && to_lower(s[1]) == 'c' && s[2] == '1') {
    return bitcoin_segwit_valid(s);
  }
  if (!s.empty() && (s[0] == '1' || s[0] == '3')) return bitcoin_base58_valid(s);
  return false;
}

bool uk_nino_valid(std::string_view s) noexcept {
  std::array<char, 9> c{};
  std::size_t n = 0;
  for (char ch : s) {
    if (ch == ' ') continue;
    if (n == c.size()) return false;
    c[n++] = to_upper(ch);
  }
  if (n != 9) return false;
  if (!is_upper(c[0]) || !is_upper(c[1])) return false;
  for (std::size_t i = 2; i < 8; ++i) {
    if (!is_digit(c[i])) return false;
  }
  if (c[8] < 'A' || c[8] > 'D') return false;
  constexpr std::string_view kBadFirst = "DFIQUV";
  constexpr std::string_view kBadSecond = "DFIOQUV";
  if (kBadFirst.find(c[0]) != std::string_view::npos) return false;
  if (kBadSecond.find(c[1]) != std::string_view::npos) return false;
  const std::string_view prefix(c.data(), 2);
  for (std::string_view bad : {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}) {
    if (prefix == bad) return false;
  }
  return true;
}

bool phone_valid(std::string_view s) noexcept {
  // Split off an extension: the first letter or '#' starts it.
  std::size_t ext_at = s.size();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (is_alpha(s[i]) || s[i] == '#') {
      ext_at = i;
      break;
    }
  }
  std::string_view main = s.substr(0, ext_at);
  if (ext_at < s.size() && !valid_extension(s.substr(ext_at))) return false;
  while (!main.empty() && (main.back() == ' ' || main.back() == ',')) main.remove_suffix(1);
  if (main.empty()) return false;

  std::size_t digits = 0;
  bool in_paren = false, paren_trunk_zero = false;
  std::size_t paren_digits = 0;
  char first_digit = 0;
  bool all_same = true;
  for (std::size_t i = 0; i < main.size(); ++i) {
    const char c = main[i];
    if (is_digit(c)) {
      ++digits;
      if (in_paren) ++paren_digits;
      if (first_digit == 0) first_digit = c;
      all_same = all_same && c == first_digit;
    } else if (c == '+') {
      if (i != 0 || main.size() < 2 || !is_digit(main[1])) return false;
    } else if (c == '(') {
      if (in_paren) return false;
      in_paren = true;
      paren_digits = 0;
    } else if (c == ')') {
      if (!in_paren || paren_digits == 0) return false;
      in_paren = false;
      // "(0)" marks the national trunk prefix inside an international number: not dialled.
      if (paren_digits == 1 && main[i - 1] == '0') paren_trunk_zero = true;
    } else if (!is_phone_separator(c)) {
      return false;
    }
  }
  if (in_paren) return false;
  if (paren_trunk_zero) --digits;
  if (digits < 7 || digits > 15 || all_same) return false;

  // Shapes that are clearly something else.
  if (looks_like_dotted_quad(main)) return false;                  // IPv4 address, version number
  if (has_shape(main, {3, 2, 4}, '-')) return false;             // SSN
  if (has_shape(main, {5, 4}, '-')) return false;                // ZIP+4
  if (date_valid(main) || starts_with_numeric_date(main)) return false;
  return true;
}

bool date_valid(std::string_view s) noexcept {
  struct Token {
    std::string_view text;
    bool number;
    bool ordinal;
    char sep_before;  // the last separator seen before this token (0 when none)
    int separators_before;
  };
  std::array<Token, 8> tokens{};
  std::size_t count = 0;
  char last_sep = 0;
  int seps = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (is_digit(c)) {
      const std::size_t start = i;
      while (i < s.size() && is_digit(s[i])) ++i;
      if (count == tokens.size()) return false;
      tokens[count++] = Token{s.substr(start, i - start), true, false, last_sep, seps};
      last_sep = 0;
      seps = 0;
      // An ordinal suffix glued to the number ("12th", "1er", "1º").
      const std::size_t word_start = i;
      while (i < s.size() && is_word_byte(s[i])) ++i;
      if (i > word_start) {
        if (!is_ordinal_suffix(s.substr(word_start, i - word_start))) return false;
        tokens[count - 1].ordinal = true;
      }
    } else if (is_word_byte(c)) {
      const std::size_t start = i;
      while (i < s.size() && is_word_byte(s[i])) ++i;
      if (count == tokens.size()) return false;
      tokens[count++] = Token{s.substr(start, i - start), false, false, last_sep, seps};
      last_sep = 0;
      seps = 0;
    } else if (c == ' ' || c == ',' || c == '.' || c == '-' || c == '/' || c == '\t') {
      if (c != ' ' && c != '\t') last_sep = c;
      if (++seps > 3) return false;
      ++i;
    } else {
      return false;
    }
  }
  if (count < 3) return false;

  // Numeric form: exactly three numbers joined by the same one of - / . with nothing else.
  if (count == 3 && tokens[0].number && tokens[1].number && tokens[2].number) {
    if (tokens[0].ordinal || tokens[1].ordinal || tokens[2].ordinal) return false;
    const char sep = tokens[1].sep_before;
    if (sep == 0 || tokens[2].sep_before != sep || tokens[1].separators_before != 1 ||
        tokens[2].separators_before != 1 || tokens[0].separators_before != 0) {
      return false;
    }
    if (s.back() == sep || s.back() == ' ') return false;
    int v[3];
    std::size_t len[3];
    for (std::size_t k = 0; k < 3; ++k) {
      if (tokens[k].text.size() > 4) return false;
      v[k] = 0;
      for (char d : tokens[k].text) v[k] = v[k] * 10 + digit_value(d);
      len[k] = tokens[k].text.size();
    }
    return numeric_date_valid(v[0], len[0], v[1], len[1], v[2], len[2]);
  }

  // Written form: one month name, a 1-2 digit day, a 4-digit year, optional filler words.
  int month = 0, day = 0, year = 0;
  bool have_day = false, have_year = false;
  for (std::size_t k = 0; k < count; ++k) {
    const Token& t = tokens[k];
    if (t.number) {
      if (t.text.size() <= 2 && !have_day) {
        day = 0;
        for (char d : t.text) day = day * 10 + digit_value(d);
        have_day = true;
      } else if (t.text.size() == 4 && !have_year && !t.ordinal) {
        year = 0;
        for (char d : t.text) year = year * 10 + digit_value(d);
        have_year = true;
      } else {
        return false;
      }
    } else {
      const int m = month_from_name(t.text);
      if (m != 0 && month == 0) {
        month = m;
      } else if (!is_date_filler(t.text)) {
        return false;
      }
    }
  }
  return month != 0 && have_day && have_year && real_date(year, month, day);
}

}  // namespace keel::firewall
