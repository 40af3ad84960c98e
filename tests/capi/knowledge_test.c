/* The knowledge base's C ABI from strict C99: open and free, upsert (one and a batch), get,
 * delete and count, entities, link and neighbours, search in each mode (keyword, vector, graph,
 * hybrid) with a selective filter, stats, events, chunking, concurrent searches, a file base
 * reopened with its documents, and the error paths (NULL arguments, bad JSON, bad documents,
 * bad queries, unknown ids). argv[1], when given, is a scratch directory for the file base. */
#define _POSIX_C_SOURCE 200809L
#include "expect.h"
#include "keel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int contains(const char* text, const char* fragment) {
  return text != NULL && strstr(text, fragment) != NULL;
}

/* How many times `fragment` occurs in `text`. */
static int occurrences(const char* text, const char* fragment) {
  int n = 0;
  size_t len = strlen(fragment);
  if (text == NULL) return 0;
  while ((text = strstr(text, fragment)) != NULL) {
    n++;
    text += len;
  }
  return n;
}

/* Searches with `query` and returns the result JSON (caller frees), or NULL after a failure. */
static char* search(const keel_kb* kb, const char* query, int line) {
  keel_error* err = NULL;
  char* result = NULL;
  keel_status status = keel_kb_search(kb, query, &result, &err);
  if (!expect_ok(status, &err, __FILE__, line)) return NULL;
  return result;
}

static size_t count_of(const keel_kb* kb, int line) {
  keel_error* err = NULL;
  size_t n = (size_t)-1;
  if (!expect_ok(keel_kb_count(kb, &n, &err), &err, __FILE__, line)) return (size_t)-1;
  return n;
}

static const char* DOCUMENTS =
    "[{\"id\": \"rust\", \"text\": \"Rust is a systems programming language focused on memory"
    " safety\", \"metadata\": {\"lang\": \"en\", \"year\": 2015, \"topic\": \"code\"}},"
    " {\"id\": \"python\", \"text\": \"Python is a programming language loved by data"
    " scientists\", \"metadata\": {\"lang\": \"en\", \"year\": 1991, \"topic\": \"code\"}},"
    " {\"id\": \"seine\", \"text\": \"La Seine traverse Paris avant de rejoindre la Manche\","
    " \"metadata\": {\"lang\": \"fr\", \"year\": 2023, \"topic\": \"geo\"}},"
    " {\"id\": \"paris\", \"text\": \"Paris is the capital of France, on the river Seine\","
    " \"metadata\": {\"lang\": \"en\", \"year\": 2024, \"topic\": \"geo\"}},"
    " {\"id\": \"louvre\", \"text\": \"The Louvre museum in Paris holds the Mona Lisa\","
    " \"metadata\": {\"lang\": \"en\", \"year\": 2020, \"topic\": \"art\"}}]";

static int events = 0;
static void count_event(const char* event_json, void* user_data) {
  (void)user_data;
  if (strstr(event_json, "\"type\":\"kb.search\"") != NULL) events++;
}

/* ---- concurrent searches ---- */
struct searcher {
  const keel_kb* kb;
  int failures;
};

static void* search_many(void* arg) {
  struct searcher* s = (struct searcher*)arg;
  int i;
  for (i = 0; i < 40; ++i) {
    keel_error* err = NULL;
    char* out = NULL;
    keel_status status = i % 2 ? keel_kb_search_text(s->kb, "river water", 11, 5, &out, &err)
                               : keel_kb_search(s->kb,
                                                "{\"text\": \"river\", \"k\": 3,"
                                                " \"filter\": {\"lang\": {\"eq\": \"fr\"}}}",
                                                &out, &err);
    if (status != KEEL_OK || !contains(out, "\"id\":\"")) s->failures++;
    keel_error_free(err);
    keel_free(out);
  }
  return NULL;
}

/* Removes the files of a file base (the database, its WAL, its index). */
static void remove_base(const char* db) {
  char path[1024];
  const char* suffixes[] = {"", "-wal", "-shm", ".hnsw", ".hnsw.tmp"};
  size_t i;
  for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; ++i) {
    snprintf(path, sizeof path, "%s%s", db, suffixes[i]);
    remove(path);
  }
}

int main(int argc, char** argv) {
  keel_error* err = NULL;
  keel_kb* kb = NULL;
  keel_embedder* embedder = NULL;
  char* out = NULL;
  size_t n = 0;

  /* ---- opening errors ---- */
  EXPECT_ERROR(keel_kb_open(NULL, NULL, NULL, &kb, &err), KEEL_INVALID_ARGUMENT, "path");
  EXPECT_ERROR(keel_kb_open("", NULL, NULL, &kb, &err), KEEL_INVALID_ARGUMENT, "path");
  EXPECT_ERROR(keel_kb_open(":memory:", NULL, NULL, NULL, &err), KEEL_INVALID_ARGUMENT, "out");
  EXPECT_ERROR(keel_kb_open(":memory:", "{\"dimension\": ", NULL, &kb, &err), KEEL_PARSE, "");
  EXPECT(kb == NULL);
  EXPECT_ERROR(keel_kb_open(":memory:", "{\"dimensions\": 8}", NULL, &kb, &err),
               KEEL_INVALID_CONFIG, "dimensions");
  EXPECT_ERROR(keel_kb_open(":memory:", "{\"hnsw\": {\"m\": \"many\"}}", NULL, &kb, &err),
               KEEL_INVALID_CONFIG, "hnsw.m");
  EXPECT_ERROR(keel_kb_open(":memory:", "{\"metric\": \"euclid\"}", NULL, &kb, &err),
               KEEL_INVALID_CONFIG, "metric");
  EXPECT_ERROR(keel_kb_open("/nonexistent/dir/kb.db", NULL, NULL, &kb, &err), KEEL_IO,
               "/nonexistent/dir/kb.db");
  EXPECT(kb == NULL);
  if (OK(keel_embedder_new("{\"provider\": \"hashing\", \"dimension\": 32}", &embedder, &err))) {
    EXPECT_ERROR(keel_kb_open(":memory:", "{\"embedder\": {\"provider\": \"hashing\"}}", embedder,
                              &kb, &err),
                 KEEL_INVALID_CONFIG, "embedder");
    EXPECT_ERROR(keel_kb_open(":memory:", "{\"dimension\": 16}", embedder, &kb, &err),
                 KEEL_INVALID_CONFIG, "vectors of 16");
    /* A borrowed embedder: the base keeps its own reference. */
    if (OK(keel_kb_open(":memory:", NULL, embedder, &kb, &err))) {
      keel_embedder_free(embedder);
      embedder = NULL;
      EXPECT(OK(keel_kb_upsert(kb, "{\"id\": \"a\", \"text\": \"alpha beta\"}", &err)));
      out = NULL;
      if (OK(keel_kb_stats(kb, &out, &err))) EXPECT(contains(out, "\"dimension\":32"));
      keel_free(out);
      keel_kb_free(kb);
      kb = NULL;
    }
    keel_embedder_free(embedder);
  }
  keel_kb_free(NULL);
  EXPECT(keel_kb_open(":memory:", "[]", NULL, &kb, NULL) == KEEL_INVALID_CONFIG);
  EXPECT(kb == NULL);

  /* ---- documents ---- */
  if (!OK(keel_kb_open(":memory:", "{\"dimension\": 64}", NULL, &kb, &err))) return 1;
  EXPECT(count_of(kb, __LINE__) == 0);
  EXPECT(OK(keel_kb_upsert(kb, DOCUMENTS, &err)));
  EXPECT(count_of(kb, __LINE__) == 5);
  EXPECT(OK(keel_kb_upsert(kb,
                           "{\"id\": \"tmp\", \"text\": \"to be deleted\","
                           " \"vector\": [" /* 64 explicit values */
                           "1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                           "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]}",
                           &err)));
  EXPECT(count_of(kb, __LINE__) == 6);

  out = NULL;
  if (OK(keel_kb_get(kb, "seine", &out, &err))) {
    EXPECT(contains(out, "\"id\":\"seine\""));
    EXPECT(contains(out, "\"text\":\"La Seine traverse Paris"));
    EXPECT(contains(out, "\"lang\":\"fr\""));
  }
  keel_free(out);
  out = (char*)"sentinel";
  EXPECT_ERROR(keel_kb_get(kb, "nobody", &out, &err), KEEL_NOT_FOUND, "nobody");
  EXPECT(out == NULL);

  /* Replacing keeps the count; deleting lowers it; deleting again is not found. */
  EXPECT(OK(keel_kb_upsert(kb, "{\"id\": \"tmp\", \"text\": \"replaced text\"}", &err)));
  EXPECT(count_of(kb, __LINE__) == 6);
  out = NULL;
  if (OK(keel_kb_get(kb, "tmp", &out, &err))) EXPECT(contains(out, "replaced text"));
  keel_free(out);
  EXPECT(OK(keel_kb_delete(kb, "tmp", &err)));
  EXPECT(count_of(kb, __LINE__) == 5);
  EXPECT_ERROR(keel_kb_delete(kb, "tmp", &err), KEEL_NOT_FOUND, "tmp");

  /* A batch is all or nothing. */
  EXPECT_ERROR(
      keel_kb_upsert(kb, "[{\"id\": \"x1\", \"text\": \"one\"}, {\"text\": \"no id\"}]", &err),
      KEEL_INVALID_ARGUMENT, "documents[1].id");
  EXPECT(count_of(kb, __LINE__) == 5);
  EXPECT_ERROR(keel_kb_upsert(kb,
                              "[{\"id\": \"x1\", \"text\": \"one\"},"
                              " {\"id\": \"x2\", \"vector\": [1, 2]}]",
                              &err),
               KEEL_INVALID_ARGUMENT, "");
  EXPECT(count_of(kb, __LINE__) == 5);
  EXPECT_ERROR(keel_kb_upsert(kb, "{\"id\": \"x\", \"metadata\": [1]}", &err),
               KEEL_INVALID_ARGUMENT, "document.metadata");
  EXPECT_ERROR(keel_kb_upsert(kb, "{\"id\": \"x\", \"txt\": \"typo\"}", &err),
               KEEL_INVALID_ARGUMENT, "txt");
  EXPECT_ERROR(keel_kb_upsert(kb, "42", &err), KEEL_INVALID_ARGUMENT, "documents");
  EXPECT_ERROR(keel_kb_upsert(kb, "[{\"id\": ", &err), KEEL_PARSE, "");
  EXPECT_ERROR(keel_kb_upsert(kb, NULL, &err), KEEL_INVALID_ARGUMENT, "documents_json");
  EXPECT_ERROR(keel_kb_upsert(NULL, DOCUMENTS, &err), KEEL_INVALID_ARGUMENT, "kb");
  EXPECT(OK(keel_kb_upsert(kb, "[]", &err)));
  EXPECT(OK(keel_kb_upsert(kb,
                           "[{\"id\": \"x1\", \"text\": \"one\"},"
                           " {\"id\": \"x2\", \"text\": \"two\"}]",
                           &err)));
  EXPECT(count_of(kb, __LINE__) == 7);
  n = 99;
  EXPECT(OK(keel_kb_delete_many(kb, "[\"x1\", \"x2\", \"never\"]", &n, &err)));
  EXPECT(n == 2);
  EXPECT(count_of(kb, __LINE__) == 5);
  EXPECT_ERROR(keel_kb_delete_many(kb, "[\"x1\", 3]", &n, &err), KEEL_INVALID_ARGUMENT, "ids[1]");
  EXPECT_ERROR(keel_kb_get(kb, NULL, &out, &err), KEEL_INVALID_ARGUMENT, "id");
  EXPECT_ERROR(keel_kb_get(kb, "rust", NULL, &err), KEEL_INVALID_ARGUMENT, "document_json");
  EXPECT_ERROR(keel_kb_count(kb, NULL, &err), KEEL_INVALID_ARGUMENT, "count");
  EXPECT_ERROR(keel_kb_delete(kb, "", &err), KEEL_INVALID_ARGUMENT, "id");

  /* ---- entities and the graph ---- */
  EXPECT(OK(keel_kb_upsert_entity(
      kb, "{\"id\": \"France\", \"type\": \"country\", \"properties\": {\"iso\": \"FR\"}}", &err)));
  out = NULL;
  if (OK(keel_kb_get_entity(kb, "France", &out, &err))) {
    EXPECT(contains(out, "\"type\":\"country\""));
    EXPECT(contains(out, "\"iso\":\"FR\""));
  }
  keel_free(out);
  EXPECT_ERROR(keel_kb_get_entity(kb, "Spain", &out, &err), KEEL_NOT_FOUND, "Spain");
  EXPECT_ERROR(keel_kb_upsert_entity(kb, "{\"id\": \"rust\", \"type\": \"lang\"}", &err),
               KEEL_INVALID_ARGUMENT, "rust");
  EXPECT_ERROR(keel_kb_upsert_entity(kb, "[]", &err), KEEL_INVALID_ARGUMENT, "entity");

  EXPECT(OK(
      keel_kb_link(kb, "{\"from\": \"paris\", \"to\": \"seine\", \"type\": \"mentions\"}", &err)));
  EXPECT(OK(keel_kb_link(kb,
                         "[{\"from\": \"seine\", \"to\": \"France\", \"type\": \"in\","
                         "  \"weight\": 0.5},"
                         " {\"from\": \"louvre\", \"to\": \"paris\", \"type\": \"in\"}]",
                         &err)));
  EXPECT_ERROR(
      keel_kb_link(kb, "{\"from\": \"paris\", \"to\": \"atlantis\", \"type\": \"x\"}", &err),
      KEEL_NOT_FOUND, "atlantis");
  /* A batch with a bad edge adds none of its edges. */
  EXPECT_ERROR(keel_kb_link(kb,
                            "[{\"from\": \"rust\", \"to\": \"python\", \"type\": \"rival\"},"
                            " {\"from\": \"rust\", \"to\": \"python\"}]",
                            &err),
               KEEL_INVALID_ARGUMENT, "edges[1].type");
  EXPECT_ERROR(keel_kb_link(kb,
                            "{\"from\": \"rust\", \"to\": \"python\", \"type\": \"t\","
                            " \"weight\": -1}",
                            &err),
               KEEL_INVALID_ARGUMENT, "edge.weight");
  out = NULL;
  if (OK(keel_kb_edges(kb, "rust", NULL, &out, &err))) EXPECT(strcmp(out, "[]") == 0);
  keel_free(out);
  out = NULL;
  if (OK(keel_kb_edges(kb, "paris", "incoming", &out, &err))) {
    EXPECT(contains(out, "\"from\":\"louvre\""));
    EXPECT(!contains(out, "\"to\":\"seine\""));
  }
  keel_free(out);
  EXPECT_ERROR(keel_kb_edges(kb, "paris", "sideways", &out, &err), KEEL_INVALID_ARGUMENT,
               "direction");

  out = NULL;
  if (OK(keel_kb_neighbours(kb, "paris", NULL, &out, &err))) {
    EXPECT(contains(out, "\"id\":\"seine\""));
    EXPECT(!contains(out, "\"id\":\"France\"")); /* two hops away */
    EXPECT(!contains(out, "\"id\":\"louvre\"")); /* incoming */
  }
  keel_free(out);
  out = NULL;
  if (OK(keel_kb_neighbours(kb, "paris", "{\"hops\": 2}", &out, &err))) {
    EXPECT(contains(out, "\"id\":\"France\""));
    EXPECT(contains(out, "\"kind\":\"entity\""));
    EXPECT(contains(out, "\"hops\":2"));
    EXPECT(contains(out, "\"weight\":0.5"));
    EXPECT(strstr(out, "\"seine\"") < strstr(out, "\"France\"")); /* nearest first */
  }
  keel_free(out);
  out = NULL;
  if (OK(keel_kb_neighbours(kb, "paris", "{\"direction\": \"both\", \"edge_types\": [\"in\"]}",
                            &out, &err))) {
    EXPECT(contains(out, "\"id\":\"louvre\""));
    EXPECT(!contains(out, "\"id\":\"seine\""));
  }
  keel_free(out);
  EXPECT_ERROR(keel_kb_neighbours(kb, "atlantis", NULL, &out, &err), KEEL_NOT_FOUND, "atlantis");
  EXPECT_ERROR(keel_kb_neighbours(kb, "paris", "{\"hops\": 9}", &out, &err), KEEL_INVALID_ARGUMENT,
               "query.hops");
  EXPECT_ERROR(keel_kb_neighbours(kb, "paris", "{\"hop\": 1}", &out, &err), KEEL_INVALID_ARGUMENT,
               "hop");

  EXPECT(OK(keel_kb_unlink(kb, "paris", "seine", "mentions", &err)));
  EXPECT_ERROR(keel_kb_unlink(kb, "paris", "seine", "mentions", &err), KEEL_NOT_FOUND, "");
  EXPECT_ERROR(keel_kb_unlink(kb, "paris", NULL, "mentions", &err), KEEL_INVALID_ARGUMENT, "to");
  out = NULL;
  if (OK(keel_kb_neighbours(kb, "paris", NULL, &out, &err))) EXPECT(strcmp(out, "[]") == 0);
  keel_free(out);
  EXPECT(OK(
      keel_kb_link(kb, "{\"from\": \"paris\", \"to\": \"seine\", \"type\": \"mentions\"}", &err)));

  /* ---- search: each mode ---- */
  /* keyword only: BM25 hits carry the keyword signal and a highlighted snippet. */
  out = search(kb, "{\"text\": \"programming language\", \"signals\": {\"vector\": false}}",
               __LINE__);
  EXPECT(contains(out, "\"hits\":["));
  EXPECT(occurrences(out, "\"id\":") == 2);
  EXPECT(contains(out, "\"keyword\":{\"rank\":1"));
  EXPECT(!contains(out, "\"vector\":{"));
  EXPECT(contains(out, "[programming]"));
  EXPECT(contains(out, "\"vector_strategy\":\"none\""));
  keel_free(out);
  /* "all" needs every word. */
  out = search(kb,
               "{\"text\": \"python safety\", \"signals\": {\"vector\": false},"
               " \"keyword\": {\"mode\": \"all\"}}",
               __LINE__);
  EXPECT(contains(out, "\"hits\":[]"));
  keel_free(out);

  /* vector only: every hit has a vector signal and none has a keyword one. */
  out = search(kb,
               "{\"text\": \"systems programming memory safety\", \"k\": 2,"
               " \"signals\": {\"keyword\": false}}",
               __LINE__);
  EXPECT(occurrences(out, "\"id\":") == 2);
  EXPECT(contains(out, "\"id\":\"rust\""));
  EXPECT(strstr(out, "\"id\":\"rust\"") == strstr(out, "\"id\":")); /* first */
  EXPECT(contains(out, "\"vector\":{\"rank\":1"));
  EXPECT(!contains(out, "\"keyword\":{"));
  keel_free(out);

  /* graph only: expansion from the seeds, with hops. */
  out = search(kb,
               "{\"signals\": {\"keyword\": false, \"vector\": false, \"graph\": true},"
               " \"graph\": {\"seeds\": [\"louvre\"], \"hops\": 2, \"direction\":"
               " \"outgoing\"}}",
               __LINE__);
  EXPECT(contains(out, "\"id\":\"paris\""));
  EXPECT(contains(out, "\"id\":\"seine\""));
  EXPECT(contains(out, "\"graph\":{\"hops\":1"));
  EXPECT(!contains(out, "\"id\":\"rust\""));
  keel_free(out);

  /* hybrid (the default, and the string form): keyword and vector fused. */
  out = search(kb, "\"Paris museum\"", __LINE__);
  EXPECT(contains(out, "\"id\":\"louvre\""));
  EXPECT(strstr(out, "\"id\":\"louvre\"") == strstr(out, "\"id\":"));
  EXPECT(contains(out, "\"keyword\":{"));
  EXPECT(contains(out, "\"vector\":{"));
  EXPECT(contains(out, "\"timings_us\""));
  keel_free(out);
  out = NULL;
  if (OK(keel_kb_search_text(kb, "Paris museum", 6, 1, &out, &err))) {
    EXPECT(occurrences(out, "\"id\":") == 1);
    EXPECT(contains(out, "[Paris]")); /* "Paris " only: 6 bytes, no "museum" */
    EXPECT(!contains(out, "[museum]"));
  }
  keel_free(out);

  /* A filter: only French documents, and only recent ones. */
  out =
      search(kb, "{\"text\": \"Paris Seine\", \"filter\": {\"lang\": {\"eq\": \"fr\"}}}", __LINE__);
  EXPECT(occurrences(out, "\"id\":") == 1);
  EXPECT(contains(out, "\"id\":\"seine\""));
  keel_free(out);
  out = search(kb, "{\"text\": \"Paris\", \"filter\": {\"year\": {\"gte\": 2021}}}", __LINE__);
  EXPECT(contains(out, "\"id\":\"paris\""));
  EXPECT(contains(out, "\"id\":\"seine\""));
  EXPECT(!contains(out, "\"id\":\"louvre\"")); /* 2020 */
  keel_free(out);

  /* ---- search errors ---- */
  EXPECT_ERROR(keel_kb_search(kb, "{\"text\": \"x\", \"k\": 0}", &out, &err), KEEL_INVALID_ARGUMENT,
               "query.k");
  EXPECT_ERROR(keel_kb_search(kb, "{\"txt\": \"x\"}", &out, &err), KEEL_INVALID_ARGUMENT, "txt");
  EXPECT_ERROR(keel_kb_search(kb, "{\"text\": \"x\", \"vector\": [1, 2]}", &out, &err),
               KEEL_INVALID_ARGUMENT, "query.vector");
  EXPECT_ERROR(keel_kb_search(kb, "{\"text\": \"x\", \"filter\": {\"lang\": {\"like\": \"f\"}}}",
                              &out, &err),
               KEEL_INVALID_CONFIG, "filter.lang");
  EXPECT_ERROR(keel_kb_search(kb, "[\"x\"]", &out, &err), KEEL_INVALID_ARGUMENT, "query");
  EXPECT_ERROR(keel_kb_search(kb, "{\"text\": ", &out, &err), KEEL_PARSE, "");
  EXPECT_ERROR(keel_kb_search(kb, NULL, &out, &err), KEEL_INVALID_ARGUMENT, "query_json");
  EXPECT_ERROR(keel_kb_search(kb, "\"x\"", NULL, &err), KEEL_INVALID_ARGUMENT, "result_json");
  EXPECT_ERROR(keel_kb_search(NULL, "\"x\"", &out, &err), KEEL_INVALID_ARGUMENT, "kb");
  EXPECT_ERROR(keel_kb_search_text(kb, "x", 1, 0, &out, &err), KEEL_INVALID_ARGUMENT, "k");
  EXPECT_ERROR(keel_kb_search_text(kb, NULL, 3, 1, &out, &err), KEEL_INVALID_ARGUMENT, "text");

  /* ---- events, stats, compact ---- */
  EXPECT(OK(keel_kb_set_event_callback(kb, count_event, NULL, &err)));
  keel_free(search(kb, "\"Paris\"", __LINE__));
  EXPECT(events == 1);
  EXPECT(OK(keel_kb_set_event_callback(kb, NULL, NULL, &err)));
  keel_free(search(kb, "\"Paris\"", __LINE__));
  EXPECT(events == 1);
  EXPECT_ERROR(keel_kb_set_event_callback(NULL, count_event, NULL, &err), KEEL_INVALID_ARGUMENT,
               "kb");
  EXPECT(OK(keel_kb_compact(kb, &err)));
  out = NULL;
  if (OK(keel_kb_stats(kb, &out, &err))) {
    EXPECT(contains(out, "\"documents\":5"));
    EXPECT(contains(out, "\"entities\":1"));
    EXPECT(contains(out, "\"edges\":3"));
    EXPECT(contains(out, "\"dimension\":64"));
    EXPECT(contains(out, "\"metric\":\"cosine\""));
  }
  keel_free(out);
  EXPECT(OK(keel_kb_delete_entity(kb, "France", &err)));
  EXPECT_ERROR(keel_kb_delete_entity(kb, "France", &err), KEEL_NOT_FOUND, "France");

  /* After close, calls fail cleanly; close again does nothing; free still frees. */
  EXPECT(OK(keel_kb_close(kb, &err)));
  EXPECT(OK(keel_kb_close(kb, &err)));
  EXPECT_ERROR(keel_kb_count(kb, &n, &err), KEEL_INVALID_ARGUMENT, "closed");
  EXPECT_ERROR(keel_kb_search(kb, "\"Paris\"", &out, &err), KEEL_INVALID_ARGUMENT, "closed");
  keel_kb_free(kb);
  kb = NULL;

  /* ---- chunking ---- */
  {
    const char* text =
        "First paragraph has a sentence. And another one here.\n\n"
        "Second paragraph is here with more words to cut into pieces.";
    out = NULL;
    if (OK(keel_chunk_text(text, strlen(text), "{\"max_bytes\": 40, \"overlap_bytes\": 0}", &out,
                           &err))) {
      EXPECT(out[0] == '[');
      EXPECT(occurrences(out, "\"start\":") >= 3);
      EXPECT(contains(out, "\"start\":0"));
    }
    keel_free(out);
    out = NULL;
    if (OK(keel_chunk_text("   ", 3, NULL, &out, &err))) EXPECT(strcmp(out, "[]") == 0);
    keel_free(out);
    EXPECT_ERROR(keel_chunk_text(text, strlen(text), "{\"max_bytes\": 4}", &out, &err),
                 KEEL_INVALID_CONFIG, "max_bytes");
    EXPECT_ERROR(keel_chunk_text(text, strlen(text), "{\"max_bytes\": 100, \"overlap_bytes\": 60}",
                                 &out, &err),
                 KEEL_INVALID_CONFIG, "overlap_bytes");
    EXPECT_ERROR(keel_chunk_text(NULL, 5, NULL, &out, &err), KEEL_INVALID_ARGUMENT, "text");
    EXPECT_ERROR(keel_chunk_text(text, 5, NULL, NULL, &err), KEEL_INVALID_ARGUMENT, "chunks_json");
  }

  /* ---- a file base: a selective filter, concurrent searches, reopen ---- */
  {
    char dir_template[] = "/tmp/keel_kb_test_XXXXXX";
    char* dir = argc > 1 ? argv[1] : mkdtemp(dir_template);
    char db[1024];
    char docs[64 * 1024];
    size_t used = 0;
    int i;
    EXPECT(dir != NULL);
    if (dir == NULL) return 1;
    snprintf(db, sizeof db, "%s/kb_test.db", dir);
    remove_base(db); /* left over from an earlier run */

    /* 40 English documents about rivers rank above the 4 French ones for "river", so a filter
     * applied after the top k would find no French document at all. */
    used += (size_t)snprintf(docs + used, sizeof docs - used, "[");
    for (i = 0; i < 40; ++i) {
      used += (size_t)snprintf(docs + used, sizeof docs - used,
                               "%s{\"id\": \"en%d\", \"text\": \"river river water river bank %d\","
                               " \"metadata\": {\"lang\": \"en\", \"n\": %d}}",
                               i ? "," : "", i, i, i);
    }
    for (i = 0; i < 4; ++i) {
      used += (size_t)snprintf(docs + used, sizeof docs - used,
                               ",{\"id\": \"fr%d\", \"text\": \"le fleuve et la river du pays %d"
                               " avec beaucoup d autres mots pour diluer\","
                               " \"metadata\": {\"lang\": \"fr\", \"n\": %d}}",
                               i, i, i);
    }
    snprintf(docs + used, sizeof docs - used, "]");

    if (OK(keel_kb_open(db, "{\"dimension\": 64}", NULL, &kb, &err))) {
      EXPECT(OK(keel_kb_upsert(kb, docs, &err)));
      EXPECT(OK(keel_kb_link(kb, "{\"from\": \"en0\", \"to\": \"fr0\", \"type\": \"translates\"}",
                             &err)));
      /* Unfiltered, the top 4 are English. */
      out = search(kb, "{\"text\": \"river\", \"k\": 4}", __LINE__);
      EXPECT(occurrences(out, "\"lang\":\"en\"") == 4);
      keel_free(out);
      /* Filtered inside the search: 4 French hits, for keyword, vector and hybrid alike. */
      out = search(kb, "{\"text\": \"river\", \"k\": 4, \"filter\": {\"lang\": {\"eq\": \"fr\"}}}",
                   __LINE__);
      EXPECT(occurrences(out, "\"lang\":\"fr\"") == 4);
      EXPECT(!contains(out, "\"lang\":\"en\""));
      keel_free(out);
      out = search(kb,
                   "{\"text\": \"river\", \"k\": 4, \"signals\": {\"keyword\": false},"
                   " \"filter\": {\"lang\": {\"eq\": \"fr\"}}}",
                   __LINE__);
      EXPECT(occurrences(out, "\"lang\":\"fr\"") == 4);
      EXPECT(!contains(out, "\"vector_strategy\":\"none\""));
      keel_free(out);
      out = search(kb,
                   "{\"text\": \"river\", \"k\": 4, \"signals\": {\"vector\": false},"
                   " \"filter\": {\"lang\": {\"eq\": \"fr\"}, \"n\": {\"lte\": 1}}}",
                   __LINE__);
      EXPECT(occurrences(out, "\"lang\":\"fr\"") == 2);
      keel_free(out);

      /* Many threads search at once. */
      {
        pthread_t threads[8];
        struct searcher searchers[8];
        for (i = 0; i < 8; ++i) {
          searchers[i].kb = kb;
          searchers[i].failures = 0;
          pthread_create(&threads[i], NULL, search_many, &searchers[i]);
        }
        for (i = 0; i < 8; ++i) {
          pthread_join(threads[i], NULL);
          EXPECT(searchers[i].failures == 0);
        }
      }
      EXPECT(OK(keel_kb_checkpoint(kb, &err)));
      EXPECT(OK(keel_kb_delete(kb, "en39", &err)));
      keel_kb_free(kb); /* closes: saves the index */
      kb = NULL;
    }

    /* Reopened: the documents, the edge and the index are there. */
    if (OK(keel_kb_open(db, NULL, NULL, &kb, &err))) {
      EXPECT(count_of(kb, __LINE__) == 43);
      out = NULL;
      if (OK(keel_kb_get(kb, "fr3", &out, &err))) EXPECT(contains(out, "\"lang\":\"fr\""));
      keel_free(out);
      EXPECT(keel_kb_get(kb, "en39", &out, NULL) == KEEL_NOT_FOUND);
      out = NULL;
      if (OK(keel_kb_neighbours(kb, "en0", NULL, &out, &err))) EXPECT(contains(out, "\"fr0\""));
      keel_free(out);
      out = NULL;
      if (OK(keel_kb_stats(kb, &out, &err))) {
        EXPECT(contains(out, "\"dimension\":64"));
        EXPECT(contains(out, "\"index\":\"loaded\""));
      }
      keel_free(out);
      out = search(kb, "{\"text\": \"river\", \"k\": 4, \"filter\": {\"lang\": {\"eq\": \"fr\"}}}",
                   __LINE__);
      EXPECT(occurrences(out, "\"lang\":\"fr\"") == 4);
      keel_free(out);
      /* A stored base refuses another dimension. */
      {
        keel_kb* other = NULL;
        EXPECT_ERROR(keel_kb_open(db, "{\"dimension\": 32}", NULL, &other, &err),
                     KEEL_INVALID_CONFIG, "dimension");
        EXPECT(other == NULL);
      }
      keel_kb_free(kb);
      kb = NULL;
    }
    remove_base(db);
    if (argc <= 1) rmdir(dir);
  }

  if (failures == 0) printf("knowledge C ABI test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
