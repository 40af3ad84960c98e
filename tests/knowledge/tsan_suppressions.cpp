// ThreadSanitizer suppressions compiled into the knowledge tests, so that a plain run of
// build/tsan/bin/test_knowledge needs no TSAN_OPTIONS.
//
// hnswlib 0.6.2's addPoint holds the new node's lock while it locks the nodes it visits and
// links to (and the global lock around new top levels). TSan's lock-order detector reports
// that as a potential deadlock, even when one thread adds. Insertion goes down the levels and
// a node is reachable on a level only once its inserter has linked it there, so inserters
// never wait on each other's new nodes. Only those lock-order reports are suppressed: data
// races inside hnswlib are still reported.
//
// Exported (see CMakeLists.txt): the TSan runtime, a shared library, looks it up dynamically.
extern "C" __attribute__((visibility("default"))) const char* __tsan_default_suppressions() {
  return "deadlock:HierarchicalNSW\n"
         "deadlock:hnswlib/hnswalg.h\n";
}
