/* The lived faults' container (selftests/kind/): one static binary, FROM scratch.
 *   fault crash      exits 1 at once: the kubelet restarts it into CrashLoopBackOff
 *   fault hog        allocates and touches memory until the memory limit kills it (OOMKilled)
 *   fault serve      runs and never answers anything: a readiness probe on it fails
 * The binary stays tiny (no libc beyond what -static pulls in) so `kind load` takes seconds. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "serve";
    if (strcmp(mode, "crash") == 0) {
        return 1;
    }
    if (strcmp(mode, "hog") == 0) {
        for (;;) { /* 8 MiB at a time, each page written so it is really charged to the cgroup */
            char *block = malloc(8 << 20);
            if (block != NULL) memset(block, 1, 8 << 20);
        }
    }
    for (;;) pause();
}
