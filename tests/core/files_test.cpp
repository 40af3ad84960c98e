// Writing a file atomically: the new content replaces the old in one step, nothing is left
// behind, and a failure names the file and leaves the old content.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/files.hpp"
#include "keel/error.hpp"

using namespace keel;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/keel-files-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("a file written atomically replaces the old one and leaves no temporary behind") {
  TempDir dir;
  const std::string path = dir.path + "/state.bin";
  detail::write_file_atomically(path, "first");
  CHECK(read_all(path) == "first");
  std::string big(3 << 20, 'x');  // several write() calls
  detail::write_file_atomically(path, big);
  CHECK(read_all(path) == big);
  detail::write_file_atomically(path, "");
  CHECK(read_all(path).empty());
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_CASE("a write that cannot be done names the file and keeps the old content") {
  TempDir dir;
  const std::string path = dir.path + "/state.bin";
  detail::write_file_atomically(path, "kept");
  // The temporary's name is taken by a directory: it cannot be created.
  std::filesystem::create_directory(path + ".tmp");
  try {
    detail::write_file_atomically(path, "lost");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::io);
    CHECK(std::string(e.what()).find(path + ".tmp") != std::string::npos);
  }
  CHECK(read_all(path) == "kept");
  // A directory that does not exist.
  CHECK_THROWS_AS(detail::write_file_atomically(dir.path + "/missing/state.bin", "x"), Error);
}
