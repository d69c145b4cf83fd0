/*
 * LD_PRELOAD helper for running Debian's DPDK 22.11 testpmd and its ENA PMD (v2.7.0) against
 * the ena-sim device model through the PCI rig. Built by the conformance test with `cc`.
 *
 * 1. Teardown race. In 22.11, ena_close() frees the admin queue even when
 *    rte_intr_callback_unregister() answers -EAGAIN because the interrupt callback is still
 *    running on the interrupt thread; the callback then touches freed memory. DPDK 24.03 fixed
 *    the PMD by unregistering synchronously. Here the unregister call itself is made to wait
 *    until the callback has finished.
 *
 * 2. Watchdog timer. The ENA PMD's keep-alive and missing-completion watchdog is an rte_timer
 *    that the application must service by calling rte_timer_manage() on the lcore that started
 *    the port. testpmd never calls it. While testpmd's main lcore waits on stdin for its next
 *    command, service the timers every 100 ms, as a well-behaved application would.
 *
 * 3. Output order. testpmd's printf output goes to a pipe here, where stdio would hold it in a
 *    buffer while the prompt (written with write()) arrives at once; make stdout unbuffered so
 *    a command's output precedes the next prompt.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

__attribute__((constructor)) static void ena_rig_unbuffered_stdout(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
}

typedef void (*ena_rig_cb)(void *);

int rte_intr_callback_unregister(const void *handle, ena_rig_cb cb, void *arg)
{
	static int (*next_unregister)(const void *, ena_rig_cb, void *);
	int rc;
	int tries;

	if (next_unregister == NULL)
		next_unregister = dlsym(RTLD_NEXT, "rte_intr_callback_unregister");
	if (next_unregister == NULL)
		return -ENOSYS;
	/* Up to ~2 s: the callback holds the line only for one admin/AENQ pass. */
	for (tries = 0; tries < 200000; tries++) {
		rc = next_unregister(handle, cb, arg);
		if (rc != -EAGAIN)
			return rc;
		usleep(10);
	}
	return rc;
}

ssize_t read(int fd, void *buf, size_t count)
{
	static ssize_t (*next_read)(int, void *, size_t);
	static int (*timer_manage)(void);

	if (next_read == NULL)
		next_read = dlsym(RTLD_NEXT, "read");
	if (fd == 0) {
		if (timer_manage == NULL)
			timer_manage = dlsym(RTLD_DEFAULT, "rte_timer_manage");
		for (;;) {
			struct pollfd p = { .fd = 0, .events = POLLIN };
			if (poll(&p, 1, 100) != 0)
				break;
			if (timer_manage != NULL)
				timer_manage();
		}
	}
	return next_read(fd, buf, count);
}
