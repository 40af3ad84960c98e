/* The router's C ABI from strict C99: create from JSON, route at each tier, fit, evaluate,
 * add and remove routes, save and load, events, the asynchronous form, and the error paths
 * (bad JSON, bad configuration, NULL arguments). argv[1] is a scratch file path. */
#define _POSIX_C_SOURCE 200809L
#include "expect.h"
#include "keel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char* ROUTES =
    "{\"exit_threshold\": 0.8,"
    " \"routes\": ["
    "  {\"name\": \"billing\", \"description\": \"Invoices, charges, refunds\","
    "   \"conditions\": [{\"keywords\": [\"invoice\", \"refund\"], \"match\": \"any\","
    "                     \"confidence\": 0.9},"
    "                    {\"metadata\": {\"channel\": {\"eq\": \"stripe\"}}, \"confidence\": 1.0}],"
    "   \"utterances\": [\"I was billed the wrong amount\", \"my card was charged twice\","
    "                    \"why is my bill so high this month\"]},"
    "  {\"name\": \"tech\", \"description\": \"Technical problems with the app\","
    "   \"conditions\": [{\"regex\": \"(?i)\\\\berror code [0-9]+\", \"confidence\": 0.95}],"
    "   \"utterances\": [\"the app crashes when I open it\", \"I cannot log in to my account\","
    "                    \"the page does not load\"]},"
    "  {\"name\": \"sales\", \"description\": \"Plans, pricing and upgrades\","
    "   \"utterances\": [\"how much does the premium plan cost\","
    "                    \"I want to upgrade my subscription\"]}]}";

static int events = 0;
static void count_event(const char* event_json, void* user_data) {
  (void)user_data;
  if (strstr(event_json, "\"type\":\"router.route\"") != NULL) events++;
}

static int model_calls = 0;
/* A host model that always picks "sales". */
static int pick_sales(const char* request_json, keel_reply* reply, void* user_data) {
  (void)request_json;
  (void)user_data;
  model_calls++;
  keel_reply_set(reply,
                 "{\"message\": {\"role\": \"assistant\","
                 " \"content\": \"{\\\"route\\\": \\\"sales\\\", \\\"confidence\\\": 0.9}\"}}");
  return 0;
}

struct waiter {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  int done;
  keel_status status;
  char text[4096];
};

static void on_done(keel_status status, const char* json_or_message, void* user_data) {
  struct waiter* w = (struct waiter*)user_data;
  pthread_mutex_lock(&w->mutex);
  w->status = status;
  strncpy(w->text, json_or_message ? json_or_message : "", sizeof w->text - 1);
  w->done = 1;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mutex);
}

/* Routes `request` and returns the result JSON (caller frees), or NULL after a failure. */
static char* route(const keel_router* router, const char* request, int line) {
  keel_error* err = NULL;
  char* result = NULL;
  keel_status status = keel_router_route(router, request, &result, &err);
  if (!expect_ok(status, &err, __FILE__, line)) return NULL;
  return result;
}

static int contains(const char* text, const char* fragment) {
  return text != NULL && strstr(text, fragment) != NULL;
}

int main(int argc, char** argv) {
  keel_error* err = NULL;
  keel_router* router = NULL;
  keel_router* loaded = NULL;
  keel_model* model = NULL;
  char* out = NULL;
  char* again = NULL;
  int removed = -1;
  const char* scratch = argc > 1 ? argv[1] : "router_test.keelr";

  /* ---- creation errors ---- */
  EXPECT_ERROR(keel_router_new("{\"routes\": [", NULL, NULL, &router, &err), KEEL_PARSE, "");
  EXPECT(router == NULL);
  EXPECT_ERROR(keel_router_new("{\"routes\": [{\"name\": \"a\", \"threshold\": \"high\"}]}", NULL,
                               NULL, &router, &err),
               KEEL_INVALID_CONFIG, "routes[0].threshold");
  EXPECT_ERROR(keel_router_new("{\"routes\": [], \"fallback\": \"nowhere\"}", NULL, NULL, &router,
                               &err),
               KEEL_INVALID_CONFIG, "fallback");
  EXPECT_ERROR(keel_router_new(NULL, NULL, NULL, &router, &err), KEEL_INVALID_ARGUMENT,
               "config_json");
  EXPECT_ERROR(keel_router_new(ROUTES, NULL, NULL, NULL, &err), KEEL_INVALID_ARGUMENT, "out");
  EXPECT(keel_router_new("{}", NULL, NULL, &router, NULL) == KEEL_INVALID_CONFIG);
  keel_router_free(NULL);

  /* ---- routing without a model ---- */
  if (!OK(keel_router_new(ROUTES, NULL, NULL, &router, &err))) return 1;

  out = route(router, "{\"text\": \"Where is my invoice?\"}", __LINE__);
  EXPECT(contains(out, "\"route\":\"billing\""));
  EXPECT(contains(out, "\"tier\":\"condition\""));
  EXPECT(contains(out, "\"timings_us\""));
  keel_free(out);

  out = route(router, "{\"text\": \"hello\", \"metadata\": {\"channel\": \"stripe\"}}", __LINE__);
  EXPECT(contains(out, "\"route\":\"billing\""));
  keel_free(out);

  out = route(router, "\"I got error code 42 again\"", __LINE__);
  EXPECT(contains(out, "\"route\":\"tech\""));
  keel_free(out);

  out = NULL;
  if (OK(keel_router_route_text(router, "the app crashes when I open it", 30, &out, &err))) {
    EXPECT(contains(out, "\"route\":\"tech\""));
    EXPECT(contains(out, "\"tier\":\"semantic\""));
  }
  keel_free(out);

  /* Nothing confident and no model: no route, tier none. */
  out = route(router, "{\"text\": \"zebra quantum lighthouse\", \"use_llm\": true}", __LINE__);
  EXPECT(contains(out, "\"route\":null"));
  EXPECT(contains(out, "\"tier\":\"none\""));
  keel_free(out);

  /* top_k lists the best candidates, best first. */
  out = NULL;
  if (OK(keel_router_top_k(router, "my card was charged twice", 25, 2, NULL, &out, &err))) {
    EXPECT(out[0] == '[');
    EXPECT(contains(out, "{\"route\":\"billing\""));
    EXPECT(strstr(out, "billing") < strstr(out, "\"score\""));
  }
  keel_free(out);

  /* ---- bad requests ---- */
  EXPECT_ERROR(keel_router_route(router, "{\"text\": ", &out, &err), KEEL_PARSE, "");
  EXPECT_ERROR(keel_router_route(router, "{\"txt\": \"x\"}", &out, &err), KEEL_INVALID_ARGUMENT,
               "request");
  EXPECT_ERROR(keel_router_route(router, "{\"text\": \"x\", \"metadata\": 3}", &out, &err),
               KEEL_INVALID_ARGUMENT, "request.metadata");
  EXPECT_ERROR(keel_router_route(router, "{\"text\": \"x\", \"use_llm\": 1}", &out, &err),
               KEEL_INVALID_ARGUMENT, "use_llm");
  EXPECT_ERROR(keel_router_route(router, "[1]", &out, &err), KEEL_INVALID_ARGUMENT, "request");
  EXPECT_ERROR(keel_router_route(NULL, "\"x\"", &out, &err), KEEL_INVALID_ARGUMENT, "router");
  EXPECT_ERROR(keel_router_route(router, NULL, &out, &err), KEEL_INVALID_ARGUMENT, "request_json");
  EXPECT_ERROR(keel_router_route(router, "\"x\"", NULL, &err), KEEL_INVALID_ARGUMENT,
               "result_json");
  EXPECT_ERROR(keel_router_route_text(router, NULL, 3, &out, &err), KEEL_INVALID_ARGUMENT, "text");
  EXPECT_ERROR(keel_router_top_k(router, "x", 1, 0, NULL, &out, &err), KEEL_INVALID_ARGUMENT, "k");
  EXPECT_ERROR(keel_router_top_k(router, "x", 1, 2, "[]", &out, &err), KEEL_INVALID_ARGUMENT,
               "metadata");

  /* ---- add, remove, config ---- */
  EXPECT_ERROR(keel_router_add_route(router, "{\"name\": \"x\", \"conditions\": [{}]}", &err),
               KEEL_INVALID_CONFIG, "route.conditions[0]");
  EXPECT(OK(keel_router_add_route(
      router,
      "{\"name\": \"shipping\", \"conditions\": [{\"keywords\": [\"parcel\"], \"confidence\": 1}],"
      " \"utterances\": [\"where is my parcel\"]}",
      &err)));
  out = route(router, "\"my parcel is late\"", __LINE__);
  EXPECT(contains(out, "\"route\":\"shipping\""));
  keel_free(out);
  EXPECT(OK(keel_router_remove_route(router, "shipping", &removed, &err)));
  EXPECT(removed == 1);
  EXPECT(OK(keel_router_remove_route(router, "shipping", &removed, &err)));
  EXPECT(removed == 0);
  EXPECT_ERROR(keel_router_remove_route(router, NULL, &removed, &err), KEEL_INVALID_ARGUMENT,
               "name");
  out = NULL;
  if (OK(keel_router_config(router, &out, &err))) {
    EXPECT(contains(out, "\"name\":\"billing\""));
    EXPECT(!contains(out, "shipping"));
    /* The configuration is a routes file a new router accepts. */
    EXPECT(OK(keel_router_new(out, NULL, NULL, &loaded, &err)));
    keel_router_free(loaded);
    loaded = NULL;
  }
  keel_free(out);

  /* ---- fit and evaluate ---- */
  {
    const char* examples =
        "[{\"text\": \"I was charged too much\", \"route\": \"billing\"},"
        " {\"text\": \"please send me the invoice\", \"route\": \"billing\"},"
        " {\"text\": \"the app will not start\", \"route\": \"tech\"},"
        " {\"text\": \"login fails every time\", \"route\": \"tech\"},"
        " {\"text\": \"what does the premium plan cost\", \"route\": \"sales\"},"
        " {\"text\": \"can I upgrade to a bigger plan\", \"route\": \"sales\"},"
        " {\"text\": \"what is the capital of France\", \"route\": null}]";
    out = NULL;
    if (OK(keel_router_evaluate(router, examples, 0, &out, &err))) {
      EXPECT(contains(out, "\"examples\":7"));
      EXPECT(contains(out, "\"accuracy\""));
      EXPECT(contains(out, "\"out_of_scope\""));
    }
    keel_free(out);
    out = NULL;
    if (OK(keel_router_fit(router, examples, "{\"seed\": 7}", &out, &err))) {
      EXPECT(contains(out, "\"threshold\""));
      EXPECT(contains(out, "\"routes_tuned\""));
    }
    keel_free(out);
    EXPECT(OK(keel_router_fit(router, examples, NULL, NULL, &err)));
    EXPECT_ERROR(keel_router_fit(router, "[]", NULL, &out, &err), KEEL_INVALID_ARGUMENT, "");
    EXPECT_ERROR(keel_router_fit(router, "[{\"text\": \"x\", \"route\": \"nowhere\"}]", NULL, &out,
                                 &err),
                 KEEL_INVALID_ARGUMENT, "nowhere");
    EXPECT_ERROR(keel_router_fit(router, "[{\"text\": \"x\"}]", NULL, &out, &err),
                 KEEL_INVALID_ARGUMENT, "examples[0].route");
    EXPECT_ERROR(keel_router_fit(router, "{\"text\": \"x\"}", NULL, &out, &err),
                 KEEL_INVALID_ARGUMENT, "expected an array");
    EXPECT_ERROR(keel_router_fit(router, examples, "{\"layer\": \"sometimes\"}", &out, &err),
                 KEEL_INVALID_CONFIG, "layer");
    EXPECT_ERROR(keel_router_evaluate(router, "[{\"text\": 5, \"route\": null}]", 0, &out, &err),
                 KEEL_INVALID_ARGUMENT, "examples[0].text");
  }

  /* ---- save and load answer identically ---- */
  remove(scratch); /* left over from an earlier run */
  if (OK(keel_router_save(router, scratch, &err))) {
    const char* probe = "{\"text\": \"why is my bill so high\", \"use_llm\": false}";
    EXPECT(keel_router_is_saved(scratch) == 1);
    if (OK(keel_router_load(scratch, NULL, NULL, &loaded, &err))) {
      out = route(router, probe, __LINE__);
      again = route(loaded, probe, __LINE__);
      /* Equal up to the timings, which come last but for "reason". */
      if (out && again) {
        char* cut1 = strstr(out, "\"timings_us\"");
        char* cut2 = strstr(again, "\"timings_us\"");
        EXPECT(cut1 && cut2);
        if (cut1 && cut2) {
          *cut1 = '\0';
          *cut2 = '\0';
          EXPECT(strcmp(out, again) == 0);
        }
      }
      keel_free(out);
      keel_free(again);
      keel_router_free(loaded);
      loaded = NULL;
    }
  }
  EXPECT(keel_router_is_saved(NULL) == 0);
  EXPECT(keel_router_is_saved("/nonexistent/router.keelr") == 0);
  EXPECT_ERROR(keel_router_load("/nonexistent/router.keelr", NULL, NULL, &loaded, &err), KEEL_IO,
               "");
  EXPECT(loaded == NULL);
  EXPECT_ERROR(keel_router_save(router, "", &err), KEEL_INVALID_ARGUMENT, "path");
  {
    /* A routes JSON file is not a saved router. */
    FILE* f = fopen(scratch, "w");
    if (f) {
      fputs(ROUTES, f);
      fclose(f);
      EXPECT(keel_router_is_saved(scratch) == 0);
      EXPECT(keel_router_load(scratch, NULL, NULL, &loaded, NULL) != KEEL_OK);
      EXPECT(loaded == NULL);
    }
    remove(scratch);
  }

  /* ---- events ---- */
  EXPECT(OK(keel_router_set_event_callback(router, count_event, NULL, &err)));
  keel_free(route(router, "\"where is my invoice\"", __LINE__));
  EXPECT(events == 1);
  EXPECT(OK(keel_router_set_event_callback(router, NULL, NULL, &err)));
  keel_free(route(router, "\"where is my invoice\"", __LINE__));
  EXPECT(events == 1);
  EXPECT_ERROR(keel_router_set_event_callback(NULL, count_event, NULL, &err),
               KEEL_INVALID_ARGUMENT, "router");
  keel_router_free(router);
  router = NULL;

  /* ---- the llm tier: a scripted model, then a host model ---- */
  if (OK(keel_model_new("{\"provider\": \"scripted\", \"responses\": ["
                        " {\"content\": \"{\\\"route\\\": \\\"tech\\\", \\\"confidence\\\": 0.9}\"},"
                        " {\"content\": \"I think it is billing, maybe\"}]}",
                        &model, &err))) {
    EXPECT(OK(keel_router_new(ROUTES, model, NULL, &router, &err)));
    keel_model_free(model); /* the router keeps its own reference */
    model = NULL;
    if (router) {
      out = route(router, "\"zebra quantum lighthouse\"", __LINE__);
      EXPECT(contains(out, "\"route\":\"tech\""));
      EXPECT(contains(out, "\"tier\":\"llm\""));
      keel_free(out);
      /* An answer that is not the expected JSON: no route, with a reason. */
      out = route(router, "\"zebra quantum lighthouse\"", __LINE__);
      EXPECT(contains(out, "\"route\":null"));
      EXPECT(contains(out, "\"reason\""));
      keel_free(out);
      /* use_llm false skips the model (whose script is exhausted anyway). */
      out = route(router, "{\"text\": \"zebra quantum lighthouse\", \"use_llm\": false}", __LINE__);
      EXPECT(contains(out, "\"tier\":\"none\""));
      keel_free(out);
      keel_router_free(router);
      router = NULL;
    }
  }
  if (OK(keel_model_new_callback(pick_sales, NULL, &model, &err))) {
    struct waiter w;
    keel_call* call = NULL;
    EXPECT(OK(keel_router_new(ROUTES, model, NULL, &router, &err)));
    keel_model_free(model);
    if (router) {
      out = route(router, "\"zebra quantum lighthouse\"", __LINE__);
      EXPECT(contains(out, "\"route\":\"sales\""));
      EXPECT(model_calls == 1);
      keel_free(out);

      /* The asynchronous form completes once, on whichever thread. */
      memset(&w, 0, sizeof w);
      pthread_mutex_init(&w.mutex, NULL);
      pthread_cond_init(&w.cond, NULL);
      if (OK(keel_router_route_async(router, "\"zebra quantum lighthouse\"", on_done, &w, &call,
                                     &err))) {
        pthread_mutex_lock(&w.mutex);
        while (!w.done) pthread_cond_wait(&w.cond, &w.mutex);
        pthread_mutex_unlock(&w.mutex);
        EXPECT(w.status == KEEL_OK);
        EXPECT(contains(w.text, "\"route\":\"sales\""));
        EXPECT(contains(w.text, "\"tier\":\"llm\""));
        keel_call_free(call);
      }
      EXPECT_ERROR(keel_router_route_async(router, "{", on_done, &w, &call, &err), KEEL_PARSE, "");
      EXPECT_ERROR(keel_router_route_async(router, "\"x\"", NULL, &w, &call, &err),
                   KEEL_INVALID_ARGUMENT, "done");
      pthread_mutex_destroy(&w.mutex);
      pthread_cond_destroy(&w.cond);
      keel_router_free(router);
    }
  }

  if (failures == 0) printf("router C ABI test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
