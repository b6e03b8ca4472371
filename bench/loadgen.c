// SPDX-License-Identifier: GPL-2.0-only
// The benchmark's load generator and sinks, compiled at bench time. Every loop is bounded by a count
// and by time. Each command prints exactly one JSON line on stdout when it ends (sinks print
// "ready" first, once they listen). Times are CLOCK_MONOTONIC ns, the clock node's
// process.hrtime.bigint() reads, so the harness can compare them with its own.
//
//   loadgen tcp-sink    ADDR PORT MAX_SECONDS
//   loadgen tcp-connect ADDR PORT DURATION_MS MAX_COUNT [RATE_PER_SECOND]
//   loadgen udp-sink    ADDR PORT MAX_SECONDS IDLE_MS
//   loadgen udp-send    ADDR PORT DURATION_MS MAX_COUNT PAYLOAD_BYTES
//   loadgen tcp-probe   ADDR PORT MAX_SECONDS INTERVAL_US
//
// tcp-connect: connect + close, closing with SO_LINGER 0 (an RST) so no TIME_WAIT piles up and the
// ephemeral ports never run out whatever the rate. tcp-probe connects in a loop (connect + close,
// INTERVAL_US apart) until a connect fails (refused by a hook, or a SYN dropped: it waits 100 ms for
// an answer), and reports when the failing attempt started and its errno.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen tcp-sink|tcp-connect|udp-sink|udp-send|tcp-probe ADDR PORT ...\n");
	exit(2);
}

static long arg_long(const char *text, const char *name)
{
	char *end = NULL;
	long value = strtol(text, &end, 10);
	if (!*text || *end || value < 0) {
		fprintf(stderr, "loadgen: %s must be a non-negative integer, got '%s'\n", name, text);
		exit(2);
	}
	return value;
}

// Fills an IPv4 or IPv6 socket address from a numeric address.
static socklen_t parse_addr(const char *text, long port, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (port < 1 || port > 65535) {
		fprintf(stderr, "loadgen: port must be 1..65535, got %ld\n", port);
		exit(2);
	}
	struct sockaddr_in *v4 = (struct sockaddr_in *)out;
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return sizeof(*v4);
	}
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		return sizeof(*v6);
	}
	fprintf(stderr, "loadgen: '%s' is not a numeric IPv4 or IPv6 address\n", text);
	exit(2);
}

static int bound_socket(int type, const struct sockaddr_storage *addr, socklen_t len)
{
	int fd = socket(addr->ss_family, type, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, len) < 0)
		die("bind");
	return fd;
}

static void say_ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

static int tcp_sink(const struct sockaddr_storage *addr, socklen_t len, long max_seconds)
{
	int fd = bound_socket(SOCK_STREAM, addr, len);
	if (listen(fd, 4096) < 0)
		die("listen");
	alarm((unsigned)max_seconds); // the harness kills us sooner; this bounds a forgotten sink
	say_ready();
	for (;;) {
		int conn = accept(fd, NULL, NULL);
		if (conn >= 0)
			close(conn);
		else if (errno != EINTR && errno != ECONNABORTED) {
			die("accept");
		}
	}
	return 0;
}

static int connect_once(const struct sockaddr_storage *addr, socklen_t len, long patience_ms)
{
	int fd = socket(addr->ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return errno;
	// A connect that hangs (a dropped SYN) gives up soon instead of after minutes of retries.
	struct timeval patience = { .tv_sec = patience_ms / 1000, .tv_usec = (patience_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof(patience));
	int result = 0;
	if (connect(fd, (const struct sockaddr *)addr, len) < 0)
		result = errno;
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	close(fd);
	return result;
}

static void sleep_until(uint64_t deadline_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000ull),
			       .tv_nsec = (long)(deadline_ns % 1000000000ull) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int tcp_connect(const struct sockaddr_storage *addr, socklen_t len, long duration_ms, long max_count, long rate)
{
	uint64_t start = now_ns();
	uint64_t end = start + (uint64_t)duration_ms * 1000000ull;
	uint64_t ok = 0, failed = 0;
	int first_errno = 0;
	uint64_t now = start;
	for (long i = 0; i < max_count && now < end; i++) {
		if (rate > 0)
			sleep_until(start + (uint64_t)i * 1000000000ull / (uint64_t)rate);
		int error = connect_once(addr, len, 1000);
		if (error == 0) {
			ok++;
		} else {
			failed++;
			if (!first_errno)
				first_errno = error;
		}
		now = now_ns();
	}
	printf("{\"ok\":%llu,\"failed\":%llu,\"firstErrno\":%d,\"elapsedNs\":%llu}\n", (unsigned long long)ok,
	       (unsigned long long)failed, first_errno, (unsigned long long)(now - start));
	return 0;
}

static int udp_sink(const struct sockaddr_storage *addr, socklen_t len, long max_seconds, long idle_ms)
{
	int fd = bound_socket(SOCK_DGRAM, addr, len);
	int buffer = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
	// Wake at least every idle_ms so both bounds are checked even when nothing arrives.
	struct timeval idle = { .tv_sec = idle_ms / 1000, .tv_usec = (idle_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
	say_ready();
	uint64_t start = now_ns(), end = start + (uint64_t)max_seconds * 1000000000ull;
	uint64_t received = 0, first = 0, last = 0;
	char packet[2048];
	for (;;) {
		ssize_t n = recv(fd, packet, sizeof(packet), 0);
		uint64_t now = now_ns();
		if (n >= 0) {
			if (received++ == 0)
				first = now;
			last = now;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (received > 0 && now - last >= (uint64_t)idle_ms * 1000000ull)
				break; // the sender is done
		} else if (errno != EINTR) {
			die("recv");
		}
		if (now >= end)
			break;
	}
	printf("{\"received\":%llu,\"firstNs\":%llu,\"lastNs\":%llu}\n", (unsigned long long)received,
	       (unsigned long long)first, (unsigned long long)last);
	return 0;
}

static int udp_send(const struct sockaddr_storage *addr, socklen_t len, long duration_ms, long max_count, long size)
{
	if (size < 1 || size > 1400) {
		fprintf(stderr, "loadgen: payload must be 1..1400 bytes, got %ld\n", size);
		exit(2);
	}
	int fd = socket(addr->ss_family, SOCK_DGRAM, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (const struct sockaddr *)addr, len) < 0)
		die("connect");
	char payload[1400];
	memset(payload, 0x5a, sizeof(payload));
	uint64_t start = now_ns(), end = start + (uint64_t)duration_ms * 1000000ull, now = start;
	uint64_t sent = 0, failed = 0;
	int first_errno = 0;
	for (long i = 0; i < max_count; i++) {
		if (send(fd, payload, (size_t)size, 0) == size) {
			sent++;
		} else {
			failed++;
			if (!first_errno)
				first_errno = errno;
		}
		if ((i & 255) == 0 && (now = now_ns()) >= end)
			break;
	}
	now = now_ns();
	printf("{\"sent\":%llu,\"failed\":%llu,\"firstErrno\":%d,\"elapsedNs\":%llu}\n", (unsigned long long)sent,
	       (unsigned long long)failed, first_errno, (unsigned long long)(now - start));
	return 0;
}

static int tcp_probe(const struct sockaddr_storage *addr, socklen_t len, long max_seconds, long interval_us)
{
	uint64_t start = now_ns(), end = start + (uint64_t)max_seconds * 1000000000ull;
	uint64_t attempts = 0, last_ok = 0;
	say_ready();
	for (;;) {
		uint64_t before = now_ns();
		int error = connect_once(addr, len, 100);
		uint64_t after = now_ns();
		attempts++;
		if (error != 0) {
			// The rule was in force somewhere between the start of this attempt and its failure.
			printf("{\"failedAtNs\":%llu,\"attemptStartNs\":%llu,\"lastOkNs\":%llu,\"errno\":%d,\"attempts\":%llu}\n",
			       (unsigned long long)after, (unsigned long long)before, (unsigned long long)last_ok, error,
			       (unsigned long long)attempts);
			return 0;
		}
		last_ok = after;
		if (after >= end) {
			printf("{\"failedAtNs\":0,\"attempts\":%llu}\n", (unsigned long long)attempts);
			return 0;
		}
		if (interval_us > 0)
			sleep_until(after + (uint64_t)interval_us * 1000ull);
	}
}

int main(int argc, char **argv)
{
	if (argc < 4)
		usage();
	signal(SIGPIPE, SIG_IGN);
	const char *command = argv[1];
	struct sockaddr_storage addr;
	socklen_t len = parse_addr(argv[2], arg_long(argv[3], "PORT"), &addr);
	if (!strcmp(command, "tcp-sink") && argc == 5)
		return tcp_sink(&addr, len, arg_long(argv[4], "MAX_SECONDS"));
	if (!strcmp(command, "tcp-connect") && (argc == 6 || argc == 7))
		return tcp_connect(&addr, len, arg_long(argv[4], "DURATION_MS"), arg_long(argv[5], "MAX_COUNT"),
				   argc == 7 ? arg_long(argv[6], "RATE") : 0);
	if (!strcmp(command, "udp-sink") && argc == 6)
		return udp_sink(&addr, len, arg_long(argv[4], "MAX_SECONDS"), arg_long(argv[5], "IDLE_MS"));
	if (!strcmp(command, "udp-send") && argc == 7)
		return udp_send(&addr, len, arg_long(argv[4], "DURATION_MS"), arg_long(argv[5], "MAX_COUNT"),
				arg_long(argv[6], "PAYLOAD_BYTES"));
	if (!strcmp(command, "tcp-probe") && argc == 6)
		return tcp_probe(&addr, len, arg_long(argv[4], "MAX_SECONDS"), arg_long(argv[5], "INTERVAL_US"));
	usage();
	return 2;
}
