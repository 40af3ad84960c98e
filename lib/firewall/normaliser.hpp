// Internal: builds the normalised views of a text that the firewall's patterns run on, and maps
// every byte of them back to the original text, so findings point at original byte offsets.
//
// text view: NFKC (compatibility decomposition), case folding, combining marks stripped,
//   zero-width / bidi / tag characters removed, Cyrillic and Greek look-alikes folded to Latin,
//   whitespace runs collapsed (a run with a line break becomes "\n", any other run " ").
// keyword view: the text view with leetspeak folded (0->o 1->i 3->e 4->a 5->s 7->t @->a $->s);
//   same length as the text view, so they share the offset map.
//
// ASCII is handled by table look-ups (NFKC is the identity on ASCII); utf8proc runs only for
// non-ASCII characters. Invalid UTF-8 bytes read as U+FFFD.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::firewall {

struct Span {
  std::size_t start = 0;
  std::size_t end = 0;
};

/// A run of invisible characters that hides something.
struct InvisibleRun {
  enum class Kind { zero_width, bidi, tag };
  Kind kind;
  Span span;            // original byte offsets
  std::size_t count = 0;
  std::string decoded;  // tag characters: the ASCII they spell (ASCII smuggling)
};

struct Normalised {
  std::string text;
  std::string keyword;
  std::vector<std::uint32_t> origin;  // origin[i]: original offset of the character behind text[i]
  std::vector<InvisibleRun> invisible;
  std::vector<Span> mixed_script_words;  // Latin letters mixed with Cyrillic/Greek look-alikes
  bool ascii = true;                     // the input was pure ASCII

  /// Maps [start, end) of the text/keyword view to original byte offsets.
  Span to_original(std::size_t start, std::size_t end, std::string_view original) const;
};

/// Fills `out` (reusing its buffers) with the views of `input`.
void normalise(std::string_view input, Normalised& out);

/// Length of the UTF-8 sequence at `at` (1 for an invalid byte), as the normaliser decodes it.
std::size_t utf8_char_length(std::string_view text, std::size_t at) noexcept;

/// The leetspeak fold of one ASCII byte (identity for others).
char fold_leet(char c) noexcept;

}  // namespace keel::firewall
