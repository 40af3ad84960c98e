/* The planner through the C ABI from strict C99: a host plan of C callback tools run with
 * references, validation errors, a goal solved with a scripted model (a test double), the
 * asynchronous form cancelled, a journalled run resumed, events, and the error paths.
 * argv[1] is a scratch directory. */
#define _POSIX_C_SOURCE 200809L
#include "async.h"
#include "expect.h"
#include "keel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int calls = 0;
static pthread_mutex_t calls_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Echoes its arguments, counting calls. */
static int echo(const char* arguments_json, const char* context_json, keel_reply* reply,
                void* user_data) {
  (void)context_json;
  (void)user_data;
  pthread_mutex_lock(&calls_mutex);
  calls++;
  pthread_mutex_unlock(&calls_mutex);
  keel_reply_set(reply, arguments_json);
  return 0;
}

/* Works until cancelled. */
static int slow(const char* arguments_json, const char* context_json, keel_reply* reply,
                void* user_data) {
  struct timespec pause = {0, 5 * 1000 * 1000};
  int i;
  (void)arguments_json;
  (void)context_json;
  (void)user_data;
  for (i = 0; i < 1000 && !keel_reply_cancelled(reply); i++) nanosleep(&pause, NULL);
  keel_reply_set(reply, "null");
  return 0;
}



static const char* PLAN =
    "{\"tasks\": [{\"id\": \"a\", \"tool\": \"echo\", \"args\": {\"n\": 41}},"
    " {\"id\": \"b\", \"tool\": \"echo\", \"args\": {\"m\": \"${a.n}\", \"all\": \"$a\"}}]}";

int main(int argc, char** argv) {
  keel_error* err = NULL;
  keel_toolset* tools = NULL;
  keel_model* model = NULL;
  keel_planner* planner = NULL;
  char* json = NULL;
  char config[1024];
  const char* dir = argc > 1 ? argv[1] : "/tmp";

  OK(keel_toolset_new(NULL, &tools, &err));
  OK(keel_toolset_add(tools, "{\"name\": \"echo\"}", echo, NULL, &err));
  OK(keel_toolset_add(tools, "{\"name\": \"slow\"}", slow, NULL, &err));
  OK(keel_planner_new(NULL, NULL, tools, &planner, &err));
  OK(keel_planner_set_event_callback(planner, count_event, (void*)"\"type\":\"plan.task\"", &err));

  /* A host plan: b gets a's output, its number kept a number. */
  OK(keel_planner_run(planner, PLAN, NULL, &json, &err));
  EXPECT(json && strstr(json, "\"status\":\"succeeded\""));
  EXPECT(json && strstr(json, "\"m\":41"));
  EXPECT(calls == 2);
  EXPECT(events_seen() >= 6); /* queued, started, finished for each */
  keel_free(json);

  /* Validation. */
  OK(keel_planner_validate(planner, PLAN, &json, &err));
  EXPECT(json && strcmp(json, "[]") == 0);
  keel_free(json);
  OK(keel_planner_validate(planner,
                           "{\"tasks\": [{\"id\": \"a\", \"tool\": \"echo\", \"deps\": [\"b\"]},"
                           " {\"id\": \"b\", \"tool\": \"echo\", \"deps\": [\"a\"]},"
                           " {\"id\": \"c\", \"tool\": \"nope\"}]}",
                           &json, &err));
  EXPECT(json && strstr(json, "cycle") && strstr(json, "unknown tool"));
  keel_free(json);
  OK(keel_planner_run(planner, "{\"tasks\": [{\"id\": \"c\", \"tool\": \"nope\"}]}", NULL, &json, &err));
  EXPECT(json && strstr(json, "\"status\":\"invalid\""));
  keel_free(json);
  EXPECT_ERROR(keel_planner_validate(planner, "{\"tasks\": [{}]}", &json, &err), KEEL_INVALID_ARGUMENT,
               "tasks[0].id");
  EXPECT_ERROR(keel_planner_run(planner, "{bad", NULL, &json, &err), KEEL_PARSE, "plan");
  EXPECT_ERROR(keel_planner_solve(planner, "goal", NULL, &json, &err), KEEL_INVALID_ARGUMENT, "model");
  EXPECT_ERROR(keel_planner_run(planner, PLAN, "{\"timeout\": 1}", &json, &err), KEEL_INVALID_CONFIG,
               "options");

  /* The asynchronous form, cancelled. */
  {
    struct outcome o;
    keel_call* call = NULL;
    outcome_init(&o);
    OK(keel_planner_start(planner, NULL, "{\"tasks\": [{\"id\": \"s\", \"tool\": \"slow\"}]}", NULL,
                          on_done, &o, &call, &err));
    keel_call_cancel(call);
    outcome_wait(&o);
    EXPECT(o.json && strstr(o.json, "\"status\":\"cancelled\""));
    outcome_free(&o);
    keel_call_free(call);
  }
  keel_planner_free(planner);
  planner = NULL;

  /* A goal, solved with a scripted model. */
  OK(keel_model_new(
      "{\"provider\": \"scripted\", \"responses\": ["
      " {\"content\": \"{\\\"tasks\\\": [{\\\"id\\\": \\\"t1\\\", \\\"tool\\\": \\\"echo\\\", "
      "\\\"args\\\": {\\\"q\\\": \\\"x\\\"}}]}\"},"
      " {\"content\": \"{\\\"answer\\\": \\\"forty-two\\\"}\"}]}",
      &model, &err));
  OK(keel_planner_new("{\"max_parallel\": 4}", model, tools, &planner, &err));
  OK(keel_planner_solve(planner, "What is it?", NULL, &json, &err));
  EXPECT(json && strstr(json, "\"answer\":\"forty-two\""));
  keel_free(json);
  keel_planner_free(planner);
  planner = NULL;
  keel_model_free(model);

  /* Planning asynchronously: a plan, then a slow model's planning cancelled. */
  OK(keel_model_new(
      "{\"provider\": \"scripted\", \"responses\": ["
      " {\"content\": \"{\\\"tasks\\\": [{\\\"id\\\": \\\"t1\\\", \\\"tool\\\": \\\"echo\\\"}]}\"}]}",
      &model, &err));
  OK(keel_planner_new(NULL, model, tools, &planner, &err));
  {
    struct outcome o;
    keel_call* call = NULL;
    outcome_init(&o);
    OK(keel_planner_plan_async(planner, "Echo something.", NULL, on_done, &o, &call, &err));
    outcome_wait(&o);
    EXPECT(o.status == KEEL_OK && o.json && strstr(o.json, "\"id\":\"t1\""));
    outcome_free(&o);
    keel_call_free(call);
  }
  keel_planner_free(planner);
  keel_model_free(model);
  OK(keel_model_new("{\"provider\": \"scripted\", \"delay_ms\": 60000, \"responses\": [{\"content\": \"{}\"}]}",
                    &model, &err));
  OK(keel_planner_new(NULL, model, tools, &planner, &err));
  {
    struct outcome o;
    keel_call* call = NULL;
    outcome_init(&o);
    OK(keel_planner_plan_async(planner, "Never answered.", NULL, on_done, &o, &call, &err));
    keel_call_cancel(call);
    outcome_wait(&o);
    EXPECT(o.status == KEEL_CANCELLED);
    outcome_free(&o);
    keel_call_free(call);
  }
  EXPECT_ERROR(keel_planner_plan_async(planner, NULL, NULL, on_done, NULL, NULL, &err), KEEL_INVALID_ARGUMENT,
               "goal");
  keel_planner_free(planner);
  planner = NULL;
  EXPECT_ERROR(keel_planner_new("{\"failure_policy\": \"panic\"}", NULL, tools, &planner, &err),
               KEEL_INVALID_CONFIG, "failure_policy");

  /* A journalled run, resumed: nothing runs again. */
  snprintf(config, sizeof config, "{\"journal\": \"%s/planner_test_journal.sqlite\"}", dir);
  {
    char path[1024];
    snprintf(path, sizeof path, "%s/planner_test_journal.sqlite", dir);
    remove(path);
  }
  OK(keel_planner_new(config, NULL, tools, &planner, &err));
  OK(keel_planner_run(planner, PLAN, "{\"run_id\": \"c-run\"}", &json, &err));
  EXPECT(json && strstr(json, "\"status\":\"succeeded\""));
  keel_free(json);
  calls = 0;
  OK(keel_planner_run(planner, NULL, "{\"run_id\": \"c-run\"}", &json, &err));
  EXPECT(json && strstr(json, "\"reloaded\":true"));
  EXPECT(calls == 0);
  keel_free(json);
  keel_planner_free(planner);

  keel_toolset_free(tools);
  keel_model_free(model);
  keel_planner_free(NULL);
  if (failures == 0) printf("planner C ABI: all checks passed\n");
  return failures != 0;
}
