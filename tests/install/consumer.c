/* A C host built against an installed keel through pkg-config. */
#include <keel.h>
#include <stdio.h>

int main(void) {
  keel_error* err = NULL;
  if (keel_check_abi(KEEL_ABI_VERSION, &err) != KEEL_OK) {
    fprintf(stderr, "%s\n", keel_error_message(err));
    keel_error_free(err);
    return 1;
  }
  printf("C consumer: keel %s (ABI %d)\n", keel_version(), keel_abi_version());
  return 0;
}
