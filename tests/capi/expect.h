/* Checks shared by the C ABI tests (strict C99): EXPECT(cond), OK(call) for a call that must
 * succeed and EXPECT_ERROR(call, code, fragment) for one that must fail with a message naming
 * what was wrong. OK and EXPECT_ERROR read and free the test's `keel_error* err`. Each test
 * program includes this once and returns `failures != 0`. */
#ifndef KEEL_TESTS_CAPI_EXPECT_H
#define KEEL_TESTS_CAPI_EXPECT_H

#include "keel.h"

#include <stdio.h>
#include <string.h>

static int failures = 0;
#define EXPECT(cond)                                                      \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                         \
    }                                                                     \
  } while (0)

/* Fails the test (and prints and frees the error) when status is not KEEL_OK. */
static int expect_ok(keel_status status, keel_error** err, const char* file, int line) {
  if (status == KEEL_OK) return 1;
  fprintf(stderr, "%s:%d: %s: %s\n", file, line, keel_status_name(status),
          keel_error_message(*err));
  keel_error_free(*err);
  *err = NULL;
  failures++;
  return 0;
}
static keel_status last_status;
/* The comma sequences the call before `err` is read. */
#define OK(expr) (last_status = (expr), expect_ok(last_status, &err, __FILE__, __LINE__))

/* Expects `status` with a message containing `fragment`; frees the error. */
static void expect_error(keel_status status, keel_error** err, keel_status code,
                         const char* fragment, const char* file, int line) {
  if (status != code) {
    fprintf(stderr, "%s:%d: expected %s, got %s (%s)\n", file, line, keel_status_name(code),
            keel_status_name(status), keel_error_message(*err));
    failures++;
  } else if (*err == NULL || strstr(keel_error_message(*err), fragment) == NULL) {
    fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", file, line,
            keel_error_message(*err), fragment);
    failures++;
  }
  keel_error_free(*err);
  *err = NULL;
}
#define EXPECT_ERROR(expr, code, fragment)                               \
  do {                                                                   \
    err = NULL;                                                          \
    last_status = (expr);                                                \
    expect_error(last_status, &err, code, fragment, __FILE__, __LINE__); \
  } while (0)

#endif
