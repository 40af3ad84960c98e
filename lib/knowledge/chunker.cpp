// chunk_text and chunk_document: long texts cut into overlapping pieces for indexing.
#include <string>
#include <vector>

#include "keel/error.hpp"
#include "keel/knowledge.hpp"

namespace keel {

namespace {

struct Span {
  std::size_t start, end;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// [start, end) without surrounding whitespace; empty spans are dropped by the caller.
Span trim(std::string_view text, Span span) {
  while (span.start < span.end && is_space(text[span.start]))
    ++span.start;
  while (span.end > span.start && is_space(text[span.end - 1]))
    --span.end;
  return span;
}

// Cuts `span` at the positions `is_cut(text, i)` marks (the cut falls after byte i).
template <class IsCut>
std::vector<Span> split(std::string_view text, Span span, IsCut is_cut) {
  std::vector<Span> out;
  std::size_t start = span.start;
  for (std::size_t i = span.start; i < span.end; ++i) {
    if (is_cut(i)) {
      Span piece = trim(text, {start, i + 1});
      if (piece.end > piece.start) out.push_back(piece);
      start = i + 1;
    }
  }
  Span last = trim(text, {start, span.end});
  if (last.end > last.start) out.push_back(last);
  return out;
}

bool is_utf8_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Pieces of at most `max` bytes: paragraphs, else their sentences, else words, else byte
// runs that end on a UTF-8 character boundary.
void cut_units(std::string_view text, Span span, std::size_t max, int level,
               std::vector<Span>& out) {
  if (span.end - span.start <= max) {
    out.push_back(span);
    return;
  }
  std::vector<Span> pieces;
  if (level == 0) {  // paragraphs: a blank line (only whitespace between two newlines)
    pieces = split(text, span, [&](std::size_t i) {
      if (text[i] != '\n') return false;
      for (std::size_t j = i + 1; j < span.end && is_space(text[j]); ++j) {
        if (text[j] == '\n') return true;
      }
      return false;
    });
  } else if (level == 1) {  // sentences: . ! ? followed by whitespace
    pieces = split(text, span, [&](std::size_t i) {
      char c = text[i];
      return (c == '.' || c == '!' || c == '?') && i + 1 < span.end && is_space(text[i + 1]);
    });
  } else if (level == 2) {  // words
    pieces = split(text, span, [&](std::size_t i) { return is_space(text[i]); });
  } else {  // a word longer than max: cut bytes, never inside a UTF-8 sequence
    std::size_t start = span.start;
    while (start < span.end) {
      std::size_t end = std::min(span.end, start + max);
      while (end < span.end && end > start + 1 && is_utf8_continuation(text[end]))
        --end;
      out.push_back({start, end});
      start = end;
    }
    return;
  }
  if (pieces.size() <= 1 && level < 3) {
    cut_units(text, pieces.empty() ? span : pieces[0], max, level + 1, out);
    return;
  }
  for (const auto& piece : pieces)
    cut_units(text, piece, max, level + 1, out);
}

}  // namespace

std::vector<Chunk> chunk_text(std::string_view text, const ChunkOptions& options) {
  if (options.max_bytes < 16) {
    throw Error(Errc::invalid_argument, "chunking.max_bytes: must be at least 16");
  }
  if (options.overlap_bytes * 2 >= options.max_bytes) {
    throw Error(Errc::invalid_argument, "chunking.overlap_bytes: must be less than max_bytes / 2");
  }
  std::vector<Chunk> chunks;
  Span all = trim(text, {0, text.size()});
  if (all.end == all.start) return chunks;
  std::vector<Span> units;
  cut_units(text, all, options.max_bytes, 0, units);

  const std::size_t n = units.size(), max = options.max_bytes, overlap = options.overlap_bytes;
  std::size_t first = 0;
  while (first < n) {
    std::size_t end = first + 1;  // every unit fits on its own
    while (end < n && units[end].end - units[first].start <= max)
      ++end;
    std::size_t start_byte = units[first].start, end_byte = units[end - 1].end;
    chunks.push_back(
        Chunk{std::string(text.substr(start_byte, end_byte - start_byte)), start_byte, end_byte});
    if (end == n) break;
    // The next chunk repeats the last units of this one that fit in `overlap` bytes, as long
    // as the first new unit still fits after them.
    std::size_t next = end;
    while (next - 1 > first && units[end - 1].end - units[next - 1].start <= overlap &&
           units[end].end - units[next - 1].start <= max) {
      --next;
    }
    first = next;
  }
  return chunks;
}

std::vector<Document> chunk_document(const Document& document, const ChunkOptions& options) {
  std::vector<Document> out;
  auto chunks = chunk_text(document.text, options);
  out.reserve(chunks.size());
  for (std::size_t n = 0; n < chunks.size(); ++n) {
    Document piece;
    piece.id = document.id + "#" + std::to_string(n);
    piece.text = std::move(chunks[n].text);
    piece.metadata = document.metadata.is_object() ? document.metadata : Json::object();
    piece.metadata["parent"] = document.id;
    piece.metadata["chunk"] = n;
    piece.metadata["start"] = chunks[n].start;
    piece.metadata["end"] = chunks[n].end;
    out.push_back(std::move(piece));
  }
  return out;
}

}  // namespace keel
