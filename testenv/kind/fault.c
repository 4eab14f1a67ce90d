/* The lived faults' container (selftests/kind/): one static binary, FROM scratch.
 *   fault crash            exits 1 at once: the kubelet restarts it into CrashLoopBackOff
 *   fault hog              allocates and touches memory until the memory limit kills it (OOMKilled)
 *   fault idle             runs and listens nowhere: a readiness probe on a port fails
 *   fault listen PORT      answers "ok\n" to every TCP connection on PORT (a Service's backend)
 *   fault connect IP PORT  exits 0 when IP:PORT answers "ok", 1 otherwise (one pod reaching another)
 * Static and tiny, so `kind load image-archive` takes a second; no DNS (static glibc has no NSS). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_on(int port) {
    int server = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = INADDR_ANY};
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(server, (struct sockaddr *)&address, sizeof address) != 0 || listen(server, 16) != 0) return 1;
    for (;;) {
        int client = accept(server, NULL, NULL);
        if (client < 0) continue;
        (void)!write(client, "ok\n", 3);
        close(client);
    }
}

static int connect_to(const char *ip, int port) {
    int client = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    char answer[3];
    if (inet_pton(AF_INET, ip, &address.sin_addr) != 1) return 1;
    if (connect(client, (struct sockaddr *)&address, sizeof address) != 0) return 1;
    return read(client, answer, sizeof answer) == 3 && memcmp(answer, "ok\n", 3) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "idle";
    if (strcmp(mode, "crash") == 0) return 1;
    if (strcmp(mode, "hog") == 0) {
        for (;;) { /* 8 MiB at a time, each page written so it is really charged to the cgroup */
            char *block = malloc(8 << 20);
            if (block != NULL) memset(block, 1, 8 << 20);
        }
    }
    if (strcmp(mode, "listen") == 0 && argc > 2) return listen_on(atoi(argv[2]));
    if (strcmp(mode, "connect") == 0 && argc > 3) return connect_to(argv[2], atoi(argv[3]));
    for (;;) pause();
}
