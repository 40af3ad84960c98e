/* Helpers shared by the C ABI tests of asynchronous calls and events (C99 + pthreads): an
 * `outcome` that a keel_done_fn fills and the test waits for, and an event counter safe for
 * events arriving from several keel threads at once. */
#ifndef KEEL_TESTS_CAPI_ASYNC_H
#define KEEL_TESTS_CAPI_ASYNC_H

#include "keel.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* What an asynchronous call delivered: its status and JSON (or message), copied. */
struct outcome {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  int done;
  keel_status status;
  char* json;
};

static void outcome_init(struct outcome* o) {
  pthread_mutex_init(&o->mutex, NULL);
  pthread_cond_init(&o->cond, NULL);
  o->done = 0;
  o->status = KEEL_INTERNAL;
  o->json = NULL;
}

/* The keel_done_fn: user_data is the struct outcome. */
static void on_done(keel_status status, const char* json, void* user_data) {
  struct outcome* o = (struct outcome*)user_data;
  pthread_mutex_lock(&o->mutex);
  o->status = status;
  o->json = strdup(json);
  o->done = 1;
  pthread_cond_signal(&o->cond);
  pthread_mutex_unlock(&o->mutex);
}

static void outcome_wait(struct outcome* o) {
  pthread_mutex_lock(&o->mutex);
  while (!o->done) pthread_cond_wait(&o->cond, &o->mutex);
  pthread_mutex_unlock(&o->mutex);
}

static void outcome_free(struct outcome* o) {
  free(o->json);
  o->json = NULL;
  pthread_cond_destroy(&o->cond);
  pthread_mutex_destroy(&o->mutex);
}

/* A keel_event_fn counting the events whose JSON contains the text given as user_data
 * ("\"type\":\"plan.task\""). */
static int events = 0;
static pthread_mutex_t events_mutex = PTHREAD_MUTEX_INITIALIZER;
static void count_event(const char* event_json, void* user_data) {
  if (strstr(event_json, (const char*)user_data) != NULL) {
    pthread_mutex_lock(&events_mutex);
    events++;
    pthread_mutex_unlock(&events_mutex);
  }
}
static int events_seen(void) {
  pthread_mutex_lock(&events_mutex);
  int n = events;
  pthread_mutex_unlock(&events_mutex);
  return n;
}

#endif
