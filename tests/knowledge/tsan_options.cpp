// ThreadSanitizer settings compiled into the knowledge test programs, so that a plain run of
// build/tsan/bin/test_knowledge needs no TSAN_OPTIONS.
//
// The lock-order (deadlock) detector is off; data races are still reported. It reports
// cycles that cannot happen here:
// - hnswlib 0.6.2's addPoint holds the new node's lock while it locks the nodes it visits
//   (and the global lock around new top levels), reported even when one thread adds;
//   insertion goes down the levels and a node is reachable on a level only once its inserter
//   has linked it there, so inserters never wait on each other's new nodes;
// - std::mutex is destroyed without pthread_mutex_destroy, so when HnswIndex (on the first add
//   to a loaded index) and hnswlib's resize replace their arrays of per-node mutexes, TSan
//   keeps the old mutexes' edges and later joins them to new mutexes at the same addresses
//   (reports without stacks, seen in the processes that load index files: the crash writer,
//   the forked writer).
// The knowledge base's own locks are few and taken in one documented order (write_mutex,
// then memory_mutex, then index_mutex; pool_mutex alone).
//
// Exported (see CMakeLists.txt): the TSan runtime, a shared library, looks it up dynamically.
extern "C" __attribute__((visibility("default"))) const char* __tsan_default_options() {
  return "detect_deadlocks=0";
}
