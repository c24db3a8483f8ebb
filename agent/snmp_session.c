/*
 * snmp_session.c - one net-snmp single session per device, driven from the
 * agent's libevent loop: its socket, its retry timer, and the callback that
 * only records what happened for the run to consume. Never touches
 * net-snmp's global session list and never lets it block or raise SIGALRM.
 */
#include "snmp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "agent.h"
#include "conf.h"
#include "timeutil.h"
#include "xmalloc.h"

#include <net-snmp/library/large_fd_set.h>

const char *csnmp_oid_str(char *buf, size_t len, const oid *o, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		int w = snprintf(buf + off, len - off, i ? ".%lu" : "%lu", (unsigned long)o[i]);

		if (w < 0)
			break;
		off += (size_t)w;
	}
	return buf;
}

/* net-snmp's own messages: warnings and errors into our log, the rest dropped. */
static int csnmp_log_cb(int major, int minor, void *serverarg, void *clientarg)
{
	const struct snmp_log_message *m = serverarg;
	size_t n;

	if (m == NULL || m->msg == NULL)
		return 0;
	n = strlen(m->msg);
	while (n > 0 && (m->msg[n - 1] == '\n' || m->msg[n - 1] == '\r'))
		n--;
	if (n > 0)
		log_warnx("net-snmp: %.*s", (int)n, m->msg);
	return 0;
}

/*
 * init_snmp() sets up process-wide library state, so it runs once however
 * many snmp checks there are (and across reloads). Everything about a device
 * comes from agent.conf: no MIB files, no snmp.conf, no persistent files
 * under /var/lib/snmp, and no SIGALRM-driven alarms.
 */
void csnmp_lib_init(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	setenv("MIBS", "", 1);
	setenv("MIBDIRS", "", 1);
	/* the DS key exists only in some net-snmp releases (not 5.9); MIBS= works in all */
#ifdef NETSNMP_DS_LIB_DONT_LOAD_MIBS
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_LOAD_MIBS, 1);
#endif
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_ALARM_DONT_USE_SIG, 1);
	snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING, csnmp_log_cb, NULL);
	netsnmp_register_loghandler(NETSNMP_LOGHANDLER_CALLBACK, LOG_WARNING);
	init_snmp("vakt");
}

/* net-snmp calls this from snmp_sess_read2/timeout/close; it only records. */
static int csnmp_cb(int op, netsnmp_session *sess, int reqid, netsnmp_pdu *pdu, void *arg)
{
	struct csnmp_priv *p = arg;

	if (p->closing || !p->outstanding)
		return 1;
	switch (op) {
	case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
		if (pdu == NULL || pdu->command != SNMP_MSG_RESPONSE) {
			p->got = CSNMP_GOT_FAILED;
			p->failed_op = pdu ? (int)pdu->command : 0;
			break;
		}
		p->resp = snmp_clone_pdu(pdu);
		if (p->resp == NULL)
			fatalx("snmp: out of memory copying a response");
		p->got = CSNMP_GOT_RESPONSE;
		break;
	case NETSNMP_CALLBACK_OP_TIMED_OUT:
		p->got = CSNMP_GOT_TIMEOUT;
		break;
	case NETSNMP_CALLBACK_OP_RESEND:
	case NETSNMP_CALLBACK_OP_CONNECT:
		return 1; /* progress, not an outcome */
	default:
		p->got = CSNMP_GOT_FAILED;
		p->failed_op = -op;
		break;
	}
	p->outstanding = 0;
	return 1;
}

netsnmp_pdu *csnmp_pdu_new(int command)
{
	netsnmp_pdu *pdu = snmp_pdu_create(command);

	if (pdu == NULL)
		fatalx("snmp: out of memory creating a PDU");
	return pdu;
}

void csnmp_pdu_add(netsnmp_pdu *pdu, const oid *name, size_t len)
{
	if (snmp_add_null_var(pdu, name, len) == NULL)
		fatalx("snmp: out of memory adding a varbind");
}

int csnmp_send(struct csnmp_priv *p, netsnmp_pdu *pdu, const char *what)
{
	int liberr = 0, snmperr = 0, reqid;
	char *err = NULL;

	reqid = snmp_sess_async_send(p->sessp, pdu, csnmp_cb, p);
	if (reqid == 0) {
		snmp_sess_error(p->sessp, &liberr, &snmperr, &err);
		snmp_free_pdu(pdu);
		csnmp_fail(p, OUTCOME_ERROR, "cannot send %s to %s: %s", what, p->shown,
			   err ? err : "unknown error");
		free(err);
		return -1;
	}
	p->outstanding = 1;
	p->nreq++;
	return 0;
}

/* The next timeout net-snmp wants (retry or give up), or none. */
void csnmp_rearm(struct csnmp_priv *p)
{
	netsnmp_large_fd_set fds;
	struct timeval tv;
	int nfds = 0, block = 1;

	if (p->sessp == NULL || p->ev_timer == NULL)
		return;
	netsnmp_large_fd_set_init(&fds, FD_SETSIZE);
	timerclear(&tv);
	snmp_sess_select_info2_flags(p->sessp, &nfds, &fds, &tv, &block, NETSNMP_SELECT_NOALARMS);
	netsnmp_large_fd_set_cleanup(&fds);
	if (block)
		evtimer_del(p->ev_timer);
	else
		evtimer_add(p->ev_timer, &tv);
}

static void csnmp_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct csnmp_priv *p = arg;
	netsnmp_large_fd_set fds;

	netsnmp_large_fd_set_init(&fds, fd + 1);
	NETSNMP_LARGE_FD_SET(fd, &fds);
	if (snmp_sess_read2(p->sessp, &fds) < 0)
		log_debug("snmp \"%s\": unreadable packet from %s", p->c->name, p->addr);
	netsnmp_large_fd_set_cleanup(&fds);
	csnmp_after_event(p);
}

static void csnmp_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct csnmp_priv *p = arg;

	snmp_sess_timeout(p->sessp);
	csnmp_after_event(p);
}

static void csnmp_on_kick(evutil_socket_t fd, short what, void *arg)
{
	csnmp_after_event(arg);
}

static void csnmp_events_new(struct csnmp_priv *p)
{
	if (p->ev_kick == NULL)
		p->ev_kick = evtimer_new(p->c->base, csnmp_on_kick, p);
	if (p->ev_kick == NULL)
		fatalx("snmp \"%s\": cannot create events", p->c->name);
}

void csnmp_kick(struct csnmp_priv *p)
{
	csnmp_events_new(p);
	event_active(p->ev_kick, EV_TIMEOUT, 1);
}

int csnmp_session_open(struct csnmp_priv *p)
{
	struct check *c = p->c;
	netsnmp_session s;
	netsnmp_transport *t;
	int liberr = 0, snmperr = 0;
	char *err = NULL;

	csnmp_events_new(p);
	csnmp_lib_init();
	snmp_sess_init(&s);
	s.peername = p->peername;
	s.version = p->version;
	s.community = (u_char *)p->community;
	s.community_len = strlen(p->community);
	s.timeout = (long)(c->timeout_ms ? c->timeout_ms : 1) * 1000L;
	s.retries = p->retries;
	p->sessp = snmp_sess_open(&s); /* copies what it keeps */
	if (p->sessp == NULL) {
		snmp_error(&s, &liberr, &snmperr, &err);
		/* the run's Result carries it; the check logs the transition */
		check_start_error(c, "cannot open an SNMP session to %s: %s", p->shown,
				  err ? err : "unknown error");
		free(err);
		return -1;
	}
	t = snmp_sess_transport(p->sessp);
	if (t == NULL || t->sock < 0) {
		check_start_error(c, "SNMP session to %s has no socket", p->shown);
		snmp_sess_close(p->sessp);
		p->sessp = NULL;
		return -1;
	}
	p->ev_read = event_new(c->base, t->sock, EV_READ | EV_PERSIST, csnmp_on_read, p);
	p->ev_timer = evtimer_new(c->base, csnmp_on_timer, p);
	if (p->ev_read == NULL || p->ev_timer == NULL || event_add(p->ev_read, NULL) < 0)
		fatalx("snmp \"%s\": cannot create events", c->name);
	log_debug("snmp \"%s\": session to %s (%s, v%s, timeout %u ms, %d retries)", c->name,
		  p->addr, p->peername, p->version == SNMP_VERSION_1 ? "1" : "2c", c->timeout_ms,
		  p->retries);
	return 0;
}

void csnmp_session_close(struct csnmp_priv *p)
{
	p->closing = 1;
	if (p->ev_read != NULL)
		event_free(p->ev_read);
	if (p->ev_timer != NULL)
		event_free(p->ev_timer);
	if (p->ev_kick != NULL)
		event_free(p->ev_kick);
	p->ev_read = p->ev_timer = p->ev_kick = NULL;
	/* snmp_sess_close reports outstanding requests as timed out: ignored, closing */
	if (p->sessp != NULL)
		snmp_sess_close(p->sessp);
	p->sessp = NULL;
	if (p->resp != NULL)
		snmp_free_pdu(p->resp);
	p->resp = NULL;
}
