// Helper for crash_test.cpp: ingests batches into a knowledge base and prints "ack <n>" on
// stdout after each batch is committed, until it is killed. Batch n holds documents
// "b<n>-<i>" whose text carries the word "batch<n>" and whose vector is crash_vector(n, i).
//   kb_crash_writer <db path> <first batch>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "crash_data.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: kb_crash_writer <db path> <first batch>\n");
    return 2;
  }
  try {
    auto kb = keel::KnowledgeBase::open(argv[1], keel::crash::options());
    for (int n = std::atoi(argv[2]);; ++n) {
      kb.upsert(keel::crash::batch(n));
      std::printf("ack %d\n", n);
      std::fflush(stdout);
      // Checkpoints now and then leave an index file that the next open must catch up.
      if (n % 7 == 3) kb.checkpoint();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kb_crash_writer: %s\n", e.what());
    return 1;
  }
}
