/* keel.h from strict C99: the macros agree with the library and an error path works. */
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

int main(void) {
  char expected[64];
  keel_error* err = NULL;
  keel_status status;

  /* The version macros agree with the library's run-time version. */
  sprintf(expected, "%d.%d.%d", KEEL_VERSION_MAJOR, KEEL_VERSION_MINOR, KEEL_VERSION_PATCH);
  EXPECT(strcmp(keel_version(), expected) == 0);
  EXPECT(strcmp(keel_version(), KEEL_VERSION_STRING) == 0);
  EXPECT(keel_abi_version() == KEEL_ABI_VERSION);
  EXPECT(keel_check_abi(KEEL_ABI_VERSION, &err) == KEEL_OK);
  EXPECT(err == NULL);

  /* An error path: a host built for another ABI gets a status and a message. */
  status = keel_check_abi(KEEL_ABI_VERSION + 1, &err);
  EXPECT(status == KEEL_INVALID_ARGUMENT);
  EXPECT(err != NULL);
  EXPECT(keel_error_code(err) == KEEL_INVALID_ARGUMENT);
  EXPECT(strstr(keel_error_message(err), "ABI mismatch") != NULL);
  keel_error_free(err);

  /* The error out-parameter is optional. */
  EXPECT(keel_check_abi(-5, NULL) == KEEL_INVALID_ARGUMENT);

  /* Status names are stable. */
  EXPECT(strcmp(keel_status_name(KEEL_OK), "ok") == 0);
  EXPECT(strcmp(keel_status_name(KEEL_INVALID_CONFIG), "invalid_config") == 0);
  EXPECT(strcmp(keel_status_name(KEEL_INTERNAL), "internal") == 0);
  EXPECT(strcmp(keel_status_name((keel_status)99), "unknown") == 0);

  /* The free functions accept NULL. */
  keel_error_free(NULL);
  keel_free(NULL);
  keel_router_free(NULL);
  keel_kb_free(NULL);
  EXPECT(keel_router_is_saved(NULL) == 0);
  EXPECT(keel_error_code(NULL) == KEEL_INTERNAL);
  EXPECT(strcmp(keel_error_message(NULL), "") == 0);

  if (failures == 0) printf("keel.h C99 test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
