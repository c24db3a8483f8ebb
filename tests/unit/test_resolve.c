/*
 * test_resolve.c - a check's name lookup against a name server in the test
 * (libevent's evdns server on 127.0.0.1): a known name gives its address, an
 * unknown one and a silent server give the reasons a Result carries, the
 * answer never arrives inside resolve_start(), and nothing calls back after
 * resolve_cancel(), even when the owner is freed at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>

#include "resolve.h"
#include "timeutil.h"
#include "xmalloc.h"

/* What the name server in the test knows: sw1.rissa; ghost.rissa does not
 * exist; slow.rissa is never answered. */
#define KNOWN_NAME  "sw1.rissa"
#define KNOWN_ADDR  "192.0.2.7"
#define GHOST_NAME  "ghost.rissa"
#define SILENT_NAME "slow.rissa"

struct fixture {
	struct event_base *base;
	struct evdns_base *dns;
	evutil_socket_t ns_fd;
	struct evdns_server_port *ns;
	unsigned questions; /* seen by the name server */
};

/* What one lookup's done callback saw. */
struct seen {
	unsigned calls;
	int family;
	unsigned port;
	char addr[INET6_ADDRSTRLEN];
	char why[512];
	/* a lookup to start from inside the callback, as a kind's next step may */
	struct resolve *again;
	struct fixture *fx;
};

static void ns_cb(struct evdns_server_request *req, void *arg)
{
	struct fixture *fx = arg;
	struct evdns_server_question *q = req->questions[0];
	struct in_addr a;

	fx->questions++;
	/* evdns asks in mixed case (0x20 randomisation) */
	if (strcasecmp(q->name, SILENT_NAME) == 0) {
		evdns_server_request_drop(req);
		return;
	}
	if (strcasecmp(q->name, KNOWN_NAME) != 0) {
		evdns_server_request_respond(req, DNS_ERR_NOTEXIST);
		return;
	}
	if (q->type == EVDNS_TYPE_A) {
		inet_pton(AF_INET, KNOWN_ADDR, &a);
		evdns_server_request_add_a_reply(req, q->name, 1, &a, 60);
	}
	/* AAAA: the name exists without one */
	evdns_server_request_respond(req, 0);
}

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char ns[64];

	fx->base = event_base_new();
	assert_non_null(fx->base);
	fx->ns_fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fx->ns_fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fx->ns_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fx->ns_fd, (struct sockaddr *)&sin, &len), 0);
	evutil_make_socket_nonblocking(fx->ns_fd);
	fx->ns = evdns_add_server_port_with_base(fx->base, fx->ns_fd, 0, ns_cb, fx);
	assert_non_null(fx->ns);
	fx->dns = evdns_base_new(fx->base, 0);
	assert_non_null(fx->dns);
	snprintf(ns, sizeof(ns), "127.0.0.1:%u", ntohs(sin.sin_port));
	assert_int_equal(evdns_base_nameserver_ip_add(fx->dns, ns), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	/* as the agent does at exit: cancellations reach the loop before evdns goes */
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	evdns_base_free(fx->dns, 0);
	evdns_close_server_port(fx->ns);
	evutil_closesocket(fx->ns_fd);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static void run_for(struct fixture *fx, uint64_t ms)
{
	struct timeval tv;

	ms_to_timeval(ms, &tv);
	event_base_loopexit(fx->base, &tv);
	event_base_dispatch(fx->base);
}

/* Runs the loop until `s` saw its answer or `ms` pass. */
static void run_until_done(struct fixture *fx, struct seen *s, uint64_t ms)
{
	uint64_t end = mono_now_ms() + ms;

	while (s->calls == 0 && mono_now_ms() < end)
		event_base_loop(fx->base, EVLOOP_ONCE);
}

static void done_cb(const struct sockaddr *sa, socklen_t salen, const char *addr, const char *why,
		    void *arg)
{
	struct seen *s = arg;

	s->calls++;
	if (sa != NULL) {
		assert_null(why);
		assert_non_null(addr);
		assert_true(salen >= sizeof(struct sockaddr_in));
		s->family = sa->sa_family;
		s->port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
		snprintf(s->addr, sizeof(s->addr), "%s", addr);
	} else {
		assert_null(addr);
		assert_non_null(why);
		snprintf(s->why, sizeof(s->why), "%s", why);
	}
	if (s->again != NULL) {
		struct resolve *r = s->again;

		s->again = NULL;
		resolve_start(r, s->fx->dns, s->fx->base, KNOWN_NAME, NULL, AF_INET, 1000, done_cb,
			      s);
	}
}

static void test_known_name_gives_its_address_and_port(void **state)
{
	struct fixture *fx = *state;
	struct resolve r = {0};
	struct seen s = {0};

	resolve_start(&r, fx->dns, fx->base, KNOWN_NAME, "161", AF_UNSPEC, 2000, done_cb, &s);
	run_until_done(fx, &s, 3000);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.family, AF_INET);
	assert_string_equal(s.addr, KNOWN_ADDR);
	assert_int_equal(s.port, 161);
	assert_null(r.cur);
	resolve_cancel(&r); /* after the answer: nothing to do */
	run_for(fx, 50);
	assert_int_equal(s.calls, 1);
}

static void test_unknown_name_gives_the_reason_with_the_name(void **state)
{
	struct fixture *fx = *state;
	struct resolve r = {0};
	struct seen s = {0};
	char want[512];

	resolve_start(&r, fx->dns, fx->base, GHOST_NAME, NULL, AF_INET, 2000, done_cb, &s);
	run_until_done(fx, &s, 3000);
	assert_int_equal(s.calls, 1);
	snprintf(want, sizeof(want), "cannot resolve %s: %s", GHOST_NAME,
		 evutil_gai_strerror(EVUTIL_EAI_NONAME));
	assert_string_equal(s.why, want);
}

static void test_silent_name_servers_end_the_lookup_at_the_timeout(void **state)
{
	struct fixture *fx = *state;
	struct resolve r = {0};
	struct seen s = {0};
	uint64_t start = mono_now_ms();

	resolve_start(&r, fx->dns, fx->base, SILENT_NAME, NULL, AF_UNSPEC, 300, done_cb, &s);
	run_until_done(fx, &s, 3000);
	assert_int_equal(s.calls, 1);
	assert_true(mono_now_ms() - start >= 290);
	assert_string_equal(s.why, "cannot resolve " SILENT_NAME
				   ": no answer from the name servers within 0.3 s");
	assert_null(r.cur);
	/* evdns's late word on the cancelled lookup does not reach the check */
	run_for(fx, 200);
	assert_int_equal(s.calls, 1);
}

static void test_numeric_address_arrives_on_the_next_turn_not_inside_start(void **state)
{
	struct fixture *fx = *state;
	struct resolve r = {0};
	struct seen s = {0};

	resolve_start(&r, fx->dns, fx->base, "127.0.0.1", "7", AF_UNSPEC, 2000, done_cb, &s);
	assert_int_equal(s.calls, 0);
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	assert_int_equal(s.calls, 1);
	assert_string_equal(s.addr, "127.0.0.1");
	assert_int_equal(s.port, 7);
	assert_int_equal(fx->questions, 0);
}

/* stop() frees the check's priv right after resolve_cancel(). */
static void test_no_callback_after_cancel_even_with_the_owner_freed(void **state)
{
	struct fixture *fx = *state;
	struct resolve *r = xcalloc(1, sizeof(*r));
	struct resolve *r2 = xcalloc(1, sizeof(*r2));
	struct resolve *r3 = xcalloc(1, sizeof(*r3));
	struct seen s = {0};

	/* a lookup the name server is sitting on */
	resolve_start(r, fx->dns, fx->base, SILENT_NAME, NULL, AF_UNSPEC, 300, done_cb, &s);
	run_for(fx, 50);
	assert_true(fx->questions > 0);
	/* one not sent yet, and an answer waiting for its turn */
	resolve_start(r2, fx->dns, fx->base, KNOWN_NAME, NULL, AF_UNSPEC, 300, done_cb, &s);
	resolve_start(r3, fx->dns, fx->base, "127.0.0.1", NULL, AF_UNSPEC, 300, done_cb, &s);
	resolve_cancel(r);
	resolve_cancel(r2);
	resolve_cancel(r3);
	resolve_cancel(r3); /* twice, as stop() after a cancelled run */
	free(r);
	free(r2);
	free(r3);
	run_for(fx, 500);
	assert_int_equal(s.calls, 0);
}

static void test_start_replaces_the_lookup_in_progress(void **state)
{
	struct fixture *fx = *state;
	struct resolve r = {0};
	struct seen slow = {0}, known = {0};

	resolve_start(&r, fx->dns, fx->base, SILENT_NAME, NULL, AF_INET, 300, done_cb, &slow);
	resolve_start(&r, fx->dns, fx->base, KNOWN_NAME, NULL, AF_INET, 300, done_cb, &known);
	run_for(fx, 500);
	assert_int_equal(slow.calls, 0);
	assert_int_equal(known.calls, 1);
	assert_string_equal(known.addr, KNOWN_ADDR);
}

static void test_done_may_start_the_next_lookup(void **state)
{
	struct fixture *fx = *state;
	struct resolve r = {0};
	struct seen s = {0};

	s.again = &r;
	s.fx = fx;
	resolve_start(&r, fx->dns, fx->base, GHOST_NAME, NULL, AF_INET, 1000, done_cb, &s);
	run_for(fx, 500);
	assert_int_equal(s.calls, 2);
	assert_string_equal(s.addr, KNOWN_ADDR);
	assert_null(r.cur);
}

static void test_cancel_when_idle_does_nothing(void **state)
{
	struct resolve r = {0};

	resolve_cancel(&r);
	resolve_cancel(&r);
	assert_null(r.cur);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_known_name_gives_its_address_and_port, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_name_gives_the_reason_with_the_name, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_silent_name_servers_end_the_lookup_at_the_timeout,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_numeric_address_arrives_on_the_next_turn_not_inside_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_callback_after_cancel_even_with_the_owner_freed,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_replaces_the_lookup_in_progress, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_done_may_start_the_next_lookup, setup, teardown),
	    cmocka_unit_test(test_cancel_when_idle_does_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
