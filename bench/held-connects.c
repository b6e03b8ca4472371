// SPDX-License-Identifier: GPL-2.0-only
// Ask mode's benchmark app: one non-blocking TCP connect per ADDR PORT target, then one line per
// connect as it ends: "done INDEX ERRNO MONOTONIC_NS" (ERRNO 0: connected), until all ended or
// SECONDS passed. Prints "started COUNT" once every connect is in progress, "end" last.
// Usage: held-connects SECONDS ADDR PORT [ADDR PORT ...]
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 2048

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static struct pollfd fds[MAX_TARGETS];
	int n = 0;
	if (argc < 4 || (argc - 2) % 2 != 0 || (argc - 2) / 2 > MAX_TARGETS) {
		fprintf(stderr, "usage: %s SECONDS ADDR PORT [ADDR PORT ...] (at most %d)\n", argv[0], MAX_TARGETS);
		return 2;
	}
	uint64_t deadline = now_ns() + (uint64_t)(atof(argv[1]) * 1e9);
	for (int i = 2; i + 1 < argc; i += 2, n++) {
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[i + 1])) };
		if (inet_pton(AF_INET, argv[i], &to.sin_addr) != 1) {
			fprintf(stderr, "bad IPv4 address %s\n", argv[i]);
			return 2;
		}
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return 1;
		if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 && errno != EINPROGRESS) {
			printf("done %d %d %llu\n", n, errno, (unsigned long long)now_ns());
			close(fd);
			fd = -1;
		}
		fds[n].fd = fd;
		fds[n].events = POLLOUT;
	}
	printf("started %d\n", n);
	fflush(stdout);
	for (int open = n; open > 0;) {
		uint64_t now = now_ns();
		if (now >= deadline || poll(fds, n, (int)((deadline - now) / 1000000) + 1) < 0)
			break;
		open = 0;
		for (int i = 0; i < n; i++) {
			if (fds[i].fd < 0)
				continue;
			if (!fds[i].revents) {
				open++;
				continue;
			}
			int err = 0;
			socklen_t len = sizeof(err);
			getsockopt(fds[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
			printf("done %d %d %llu\n", i, err, (unsigned long long)now_ns());
			fflush(stdout);
			close(fds[i].fd);
			fds[i].fd = -1;
		}
	}
	printf("end\n");
	return 0;
}
