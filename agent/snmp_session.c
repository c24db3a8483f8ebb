/*
 * snmp_session.c - one net-snmp single session per device, driven from the
 * agent's libevent loop: its socket, its retry timer, and the callback that
 * only records what happened for the run to consume; the agent's bound on
 * requests in flight (devices over it wait in order) and SNMPv3 engine-ID
 * discovery, sent as a request of its own on the loop. Never touches
 * net-snmp's global session list and never lets it block or raise SIGALRM.
 */
#include "snmp.h"

#include <ctype.h>
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
#include <net-snmp/library/snmp_transport.h>
#include <net-snmp/library/snmpusm.h>

/* A request sent, or waiting for a slot, or held until the engine is known. */
struct csnmp_wait {
	struct csnmp_wait *next;
	struct csnmp_priv *p;
	netsnmp_pdu *pdu;
	snmp_callback cb;
	const char *what;
};

/*
 * One (engine ID, user) this agent put into net-snmp's process-wide USM
 * user list. Devices that reach the same engine as the same user share it;
 * the last one to leave takes it out, so that new keys (a reload) apply.
 */
struct csnmp_user {
	struct csnmp_user *next;
	u_char engine[SNMP_MAX_ENG_SIZE];
	size_t elen;
	char *name;
	char *owner; /* the device that put it there, for a conflict's reason */
	struct csnmp_usm keys;
	unsigned refs;
	int foreign; /* net-snmp's list had it before: left there when the last device goes */
};

#define CSNMP_SLOTS_REPORT_S 60 /* a line a minute while requests wait for slots */

struct csnmp_shared {
	unsigned max, busy, busy_max;       /* requests in flight: bound, now, most */
	struct csnmp_wait *head, **tail;    /* waiting for a slot, in order */
	unsigned long long waited, gave_up; /* requests that waited; runs that gave up */
	struct event *ev_dispatch;
	struct event *ev_report;
	unsigned long long waited_said, gave_up_said; /* counts the last line gave */
	struct csnmp_user *users;
	struct csnmp_ku_cache *kus;
};

enum csnmp_engine {
	CSNMP_ENGINE_UNKNOWN,
	CSNMP_ENGINE_PROBING,
	CSNMP_ENGINE_FOUND, /* the probe's answer, not yet acted on */
	CSNMP_ENGINE_KNOWN,
};

struct csnmp_link {
	struct csnmp_shared *sh;
	unsigned busy;    /* this device's requests in flight */
	unsigned waiting; /* in sh's queue */
	struct event *ev_wait;
	enum csnmp_engine engine;
	u_char engine_id[SNMP_MAX_ENG_SIZE];
	size_t engine_len;
	int found_this_run; /* a timeout after a discovery is likely the privacy key */
	int unreadable;     /* this run, the device sent what net-snmp would not take */
	struct csnmp_wait *held, **held_tail;
	struct csnmp_user *user;
};

static int csnmp_cb(int op, netsnmp_session *sess, int reqid, netsnmp_pdu *pdu, void *arg);
static int csnmp_probe_cb(int op, netsnmp_session *sess, int reqid, netsnmp_pdu *pdu, void *arg);

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

/*
 * net-snmp logs some refusals once per packet ("Authentication failed for
 * USER", "Bad PDU type received"), so a peer sending bad packets would fill
 * the log: each distinct message is logged once a minute, then as a count.
 */
#define CSNMP_LOG_KINDS 32
#define CSNMP_LOG_S     60.0
struct csnmp_logged {
	char msg[128]; /* the message's start without hex digits; "" in the last slot: all others */
	struct complaint c;
};

/* net-snmp's own messages: warnings and errors into our log, the rest dropped. */
static int csnmp_log_cb(int major, int minor, void *serverarg, void *clientarg)
{
	const struct snmp_log_message *m = serverarg;
	struct csnmp_logged *kinds = clientarg, *k = &kinds[CSNMP_LOG_KINDS - 1];
	char key[sizeof(k->msg)];
	size_t n, o;

	(void)major;
	(void)minor;
	if (m == NULL || m->msg == NULL)
		return 0;
	n = strlen(m->msg);
	while (n > 0 && (m->msg[n - 1] == '\n' || m->msg[n - 1] == '\r'))
		n--;
	if (n == 0)
		return 0;
	/* "Bad PDU type received: 0x03" and "...: 0x7d" are one kind: numbers left out */
	o = 0;
	for (size_t i = 0; i < n && o + 1 < sizeof(key); i++)
		if (!isxdigit((unsigned char)m->msg[i]))
			key[o++] = m->msg[i];
	key[o] = '\0';
	for (size_t i = 0; i + 1 < CSNMP_LOG_KINDS; i++)
		if (kinds[i].msg[0] == '\0' || strcmp(kinds[i].msg, key) == 0) {
			k = &kinds[i];
			memcpy(k->msg, key, sizeof(key));
			break;
		}
	log_complain(&k->c, CSNMP_LOG_S, "net-snmp: %.*s", (int)n, m->msg);
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
	static struct csnmp_logged logged[CSNMP_LOG_KINDS];

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
	snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING, csnmp_log_cb, logged);
	netsnmp_register_loghandler(NETSNMP_LOGHANDLER_CALLBACK, LOG_WARNING);
	init_snmp("vakt");
}

/* ---- the agent's request slots ---- */

/*
 * Waiting for a slot is how the bound works, but waiting every minute means
 * the agent polls more than snmp_in_flight lets it: one line a minute says
 * so while it lasts (a warning once runs give up), none when all is well.
 */
static void csnmp_on_report(evutil_socket_t fd, short what, void *arg)
{
	struct csnmp_shared *sh = arg;
	unsigned long long waited = sh->waited - sh->waited_said;
	unsigned long long gave_up = sh->gave_up - sh->gave_up_said;

	sh->waited_said = sh->waited;
	sh->gave_up_said = sh->gave_up;
	if (gave_up > 0)
		log_warnx("snmp: %llu runs gave up waiting for one of the %u request slots "
			  "(snmp_in_flight) in the last %d s, %llu requests waited: raise "
			  "snmp_in_flight, or lengthen intervals or shorten timeouts",
			  gave_up, sh->max, CSNMP_SLOTS_REPORT_S, waited);
	else if (waited > 0)
		log_info("snmp: %llu requests waited for one of the %u request slots "
			 "(snmp_in_flight) in the last %d s; none gave up",
			 waited, sh->max, CSNMP_SLOTS_REPORT_S);
}

int csnmp_shared_init(struct agent *a, void **state)
{
	struct csnmp_shared *sh = xcalloc(1, sizeof(*sh));
	struct timeval tv = {CSNMP_SLOTS_REPORT_S, 0};

	csnmp_lib_init();
	sh->max = a->conf->snmp_in_flight ? a->conf->snmp_in_flight : CSNMP_IN_FLIGHT_DEFAULT;
	sh->tail = &sh->head;
	sh->kus = csnmp_ku_cache_new();
	sh->ev_report = event_new(a->base, -1, EV_PERSIST, csnmp_on_report, sh);
	if (sh->ev_report == NULL || event_add(sh->ev_report, &tv) < 0)
		fatalx("snmp: cannot create events");
	*state = sh;
	return 0;
}

void csnmp_shared_fini(struct agent *a, void *state)
{
	struct csnmp_shared *sh = state;

	if (sh == NULL)
		return;
	log_info("snmp: at most %u of %u requests in flight at once (snmp_in_flight); %llu "
		 "waited for a slot, %llu runs gave up waiting",
		 sh->busy_max, sh->max, sh->waited, sh->gave_up);
	if (sh->ev_dispatch != NULL)
		event_free(sh->ev_dispatch);
	event_free(sh->ev_report);
	csnmp_ku_cache_free(sh->kus);
	/* every device left: its users are gone from net-snmp's list already */
	free(sh);
}

static int csnmp_room(const struct csnmp_priv *p)
{
	const struct csnmp_link *l = p->link;

	return l->sh->busy < l->sh->max && l->busy < p->in_flight_max;
}

/* The latest a request of this run may leave: the rest of the interval must still fit it. */
static uint64_t csnmp_wait_deadline(const struct csnmp_priv *p)
{
	const struct check *c = p->c;
	uint64_t need = (uint64_t)c->timeout_ms * (uint64_t)(p->retries + 1);
	uint64_t end = c->run_start_ms + (uint64_t)c->interval * 1000;

	return end > need ? end - need : 0;
}

static void csnmp_unhold(struct csnmp_link *l);

static int csnmp_transmit(struct csnmp_priv *p, netsnmp_pdu *pdu, snmp_callback cb,
			  const char *what)
{
	struct csnmp_link *l = p->link;
	int liberr = 0, snmperr = 0;
	char *err = NULL;

	if (snmp_sess_async_send(p->sessp, pdu, cb, p) == 0) {
		snmp_sess_error(p->sessp, &liberr, &snmperr, &err);
		snmp_free_pdu(pdu);
		/* a discovery that never left: the next run starts it again */
		if (cb == csnmp_probe_cb) {
			l->engine = CSNMP_ENGINE_UNKNOWN;
			csnmp_unhold(l);
		}
		csnmp_fail(p, OUTCOME_ERROR, "cannot send %s to %s: %s", what, p->shown,
			   err ? err : "unknown error");
		free(err);
		return -1;
	}
	l->busy++;
	if (++l->sh->busy > l->sh->busy_max)
		l->sh->busy_max = l->sh->busy;
	return 0;
}

static void csnmp_wait_arm(struct csnmp_priv *p)
{
	uint64_t now = mono_now_ms(), dl = csnmp_wait_deadline(p);
	struct timeval tv;

	dl = dl > now ? dl - now : 0;
	tv.tv_sec = (time_t)(dl / 1000);
	tv.tv_usec = (suseconds_t)(dl % 1000) * 1000;
	evtimer_add(p->link->ev_wait, &tv);
}

/* Takes all of `p`'s requests out of the queue, unsent. */
static void csnmp_unqueue(struct csnmp_priv *p)
{
	struct csnmp_link *l = p->link;
	struct csnmp_wait **wp = &l->sh->head;

	while (*wp != NULL) {
		struct csnmp_wait *w = *wp;

		if (w->p != p) {
			wp = &w->next;
			continue;
		}
		*wp = w->next;
		snmp_free_pdu(w->pdu);
		free(w);
	}
	l->sh->tail = &l->sh->head;
	for (struct csnmp_wait *w = l->sh->head; w != NULL; w = w->next)
		l->sh->tail = &w->next;
	l->waiting = 0;
	evtimer_del(l->ev_wait);
}

static void csnmp_unhold(struct csnmp_link *l)
{
	while (l->held != NULL) {
		struct csnmp_wait *w = l->held;

		l->held = w->next;
		snmp_free_pdu(w->pdu);
		free(w);
	}
	l->held_tail = &l->held;
}

/* Sends `pdu` now if a slot is free, else queues it behind the others. */
static int csnmp_submit(struct csnmp_priv *p, netsnmp_pdu *pdu, snmp_callback cb, const char *what)
{
	struct csnmp_link *l = p->link;
	struct csnmp_shared *sh = l->sh;
	struct csnmp_wait *w;

	if (sh->head == NULL && csnmp_room(p))
		return csnmp_transmit(p, pdu, cb, what);
	if (mono_now_ms() >= csnmp_wait_deadline(p)) {
		snmp_free_pdu(pdu);
		sh->gave_up++;
		return csnmp_fail(p, OUTCOME_ERROR,
				  "no time left in this interval to send %s to %s: all %u SNMP "
				  "request slots are busy (snmp_in_flight)",
				  what, p->shown, sh->max);
	}
	w = xcalloc(1, sizeof(*w));
	w->p = p;
	w->pdu = pdu;
	w->cb = cb;
	w->what = what;
	*sh->tail = w;
	sh->tail = &w->next;
	sh->waited++;
	if (l->waiting++ == 0)
		csnmp_wait_arm(p);
	if (sh->busy < sh->max)
		event_active(sh->ev_dispatch, EV_TIMEOUT, 1);
	return 0;
}

/* A slot came free: the waiting requests that fit now go, in order. */
static void csnmp_on_dispatch(evutil_socket_t fd, short what, void *arg)
{
	struct csnmp_shared *sh = arg;
	struct csnmp_wait **wp = &sh->head;

	while (*wp != NULL && sh->busy < sh->max) {
		struct csnmp_wait *w = *wp;
		struct csnmp_priv *p = w->p;

		if (!csnmp_room(p)) {
			wp = &w->next;
			continue;
		}
		*wp = w->next;
		if (sh->tail == &w->next)
			sh->tail = wp;
		if (--p->link->waiting == 0)
			evtimer_del(p->link->ev_wait);
		/* a failure ends p's run on its own loop turn, not inside this loop */
		if (csnmp_transmit(p, w->pdu, w->cb, w->what) < 0)
			csnmp_kick(p);
		else
			csnmp_rearm(p);
		free(w);
	}
}

static void csnmp_slot_free(struct csnmp_priv *p)
{
	struct csnmp_link *l = p->link;

	if (l->busy == 0)
		return;
	l->busy--;
	l->sh->busy--;
	if (l->sh->head != NULL)
		event_active(l->sh->ev_dispatch, EV_TIMEOUT, 1);
}

/* The run waited for a slot until no time was left: it ends saying so. */
static void csnmp_on_wait(evutil_socket_t fd, short what, void *arg)
{
	struct csnmp_priv *p = arg;
	struct csnmp_link *l = p->link;
	uint64_t waited = mono_now_ms() - p->c->run_start_ms;

	csnmp_unqueue(p);
	csnmp_unhold(l);
	if (l->engine == CSNMP_ENGINE_PROBING)
		l->engine = CSNMP_ENGINE_UNKNOWN;
	l->sh->gave_up++;
	p->outstanding = 0;
	csnmp_fail(p, OUTCOME_ERROR,
		   "waited %.1f s for one of the agent's %u SNMP request slots (snmp_in_flight), "
		   "all busy: no time left in this interval to poll %s",
		   waited / 1000.0, l->sh->max, p->shown);
	csnmp_after_event(p);
}

/* ---- SNMPv3: the device's engine ID, and its user in net-snmp's list ---- */

static void csnmp_user_detach(struct csnmp_priv *p)
{
	struct csnmp_link *l = p->link;
	struct csnmp_user *u = l->user, **up;
	struct usmUser *nu;

	if (u == NULL)
		return;
	l->user = NULL;
	if (--u->refs > 0)
		return;
	for (up = &l->sh->users; *up != u; up = &(*up)->next)
		;
	*up = u->next;
	nu = u->foreign ? NULL : usm_get_user(u->engine, u->elen, u->name);
	if (nu != NULL && nu->name != NULL && strcmp(nu->name, u->name) == 0) {
		usm_remove_user(nu);
		usm_free_user(nu);
	}
	explicit_bzero(&u->keys, sizeof(u->keys));
	free(u->name);
	free(u->owner);
	free(u);
}

/*
 * Puts the device's user for the engine just found into net-snmp's list,
 * which holds one set of keys per (engine ID, user name); -1 with `why`
 * when another device holds different keys there.
 */
static int csnmp_user_attach(struct csnmp_priv *p, char *why, size_t len)
{
	struct csnmp_link *l = p->link;
	netsnmp_session *s = snmp_sess_session(p->sessp);
	struct csnmp_user *u;
	struct usmUser *old;

	csnmp_user_detach(p);
	for (u = l->sh->users; u != NULL; u = u->next) {
		if (u->elen != l->engine_len || memcmp(u->engine, l->engine_id, u->elen) != 0 ||
		    strcmp(u->name, p->usm->name) != 0)
			continue;
		if (!csnmp_usm_same_keys(&u->keys, p->usm)) {
			snprintf(why, len,
				 "%s is the same SNMPv3 engine as device \"%s\", whose user \"%s\" "
				 "has other protocols or passwords: one of the two is wrong",
				 p->shown, u->owner, u->name);
			return -1;
		}
		u->refs++;
		l->user = u;
		return 0;
	}
	/*
	 * Not a poller's: another part of the agent (a trap listener's v3 user)
	 * put it there. Shared when its keys are these, never taken out.
	 */
	old = usm_get_user(l->engine_id, l->engine_len, p->usm->name);
	if (old != NULL && old->name != NULL && strcmp(old->name, p->usm->name) == 0 &&
	    !csnmp_usm_matches(p->usm, old, l->engine_id, l->engine_len)) {
		snprintf(why, len,
			 "the agent already knows SNMPv3 user \"%s\" of the engine of %s (as a "
			 "trap sender?) with other protocols or passwords: one of the two is wrong",
			 p->usm->name, p->shown);
		return -1;
	}
	s->flags &= ~SNMP_FLAGS_USER_CREATED;
	if (old == NULL && usm_create_user_from_session(s) != SNMPERR_SUCCESS) {
		snprintf(why, len, "cannot set up SNMPv3 user \"%s\" for %s", p->usm->name,
			 p->shown);
		return -1;
	}
	u = xcalloc(1, sizeof(*u));
	memcpy(u->engine, l->engine_id, l->engine_len);
	u->elen = l->engine_len;
	u->name = xstrdup(p->usm->name);
	u->owner = xstrdup(p->c->name);
	u->keys.level = p->usm->level;
	u->keys.auth = p->usm->auth;
	u->keys.priv = p->usm->priv;
	memcpy(u->keys.auth_ku, p->usm->auth_ku, p->usm->auth_ku_len);
	u->keys.auth_ku_len = p->usm->auth_ku_len;
	memcpy(u->keys.priv_ku, p->usm->priv_ku, p->usm->priv_ku_len);
	u->keys.priv_ku_len = p->usm->priv_ku_len;
	u->foreign = old != NULL;
	u->refs = 1;
	u->next = l->sh->users;
	l->sh->users = u;
	l->user = u;
	return 0;
}

static void csnmp_engine_set(u_char **dst, size_t *dlen, const u_char *id, size_t len)
{
	free(*dst);
	*dst = xmalloc(len);
	memcpy(*dst, id, len);
	*dlen = len;
}

/* The probe of RFC 3414 4: no user, no engine ID; the Report names the engine. */
static int csnmp_probe_send(struct csnmp_priv *p)
{
	netsnmp_session *s = snmp_sess_session(p->sessp);
	netsnmp_pdu *pdu = csnmp_pdu_new(SNMP_MSG_GET);

	/* a device replaced or reset since: forget what was found before */
	free(s->securityEngineID);
	free(s->contextEngineID);
	s->securityEngineID = s->contextEngineID = NULL;
	s->securityEngineIDLen = s->contextEngineIDLen = 0;
	s->flags |= SNMP_FLAGS_DONT_PROBE;
	if (usm_get_user(NULL, 0, "") == NULL)
		fatalx("snmp: net-snmp has no user for engine discovery");
	pdu->version = SNMP_VERSION_3;
	pdu->securityName = xstrdup("");
	pdu->securityNameLen = 0;
	pdu->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
	pdu->securityModel = SNMP_SEC_MODEL_USM;
	p->link->engine = CSNMP_ENGINE_PROBING;
	p->nreq++;
	log_debug("snmp \"%s\": discovering the SNMPv3 engine of %s", p->c->name, p->addr);
	return csnmp_submit(p, pdu, csnmp_probe_cb, "SNMPv3 engine discovery");
}

static int csnmp_probe_cb(int op, netsnmp_session *sess, int reqid, netsnmp_pdu *pdu, void *arg)
{
	struct csnmp_priv *p = arg;
	struct csnmp_link *l;

	if (op == NETSNMP_CALLBACK_OP_RESEND || op == NETSNMP_CALLBACK_OP_CONNECT)
		return 1;
	/* a Report comes twice: as a message, then as the error that ends the request */
	if (op == NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE && pdu != NULL &&
	    pdu->command == SNMP_MSG_REPORT)
		return 1;
	if (p->closing)
		return 1;
	l = p->link;
	csnmp_slot_free(p);
	if ((op == NETSNMP_CALLBACK_OP_SEC_ERROR || op == NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE) &&
	    pdu != NULL && pdu->securityEngineIDLen > 0 &&
	    pdu->securityEngineIDLen <= sizeof(l->engine_id)) {
		memcpy(l->engine_id, pdu->securityEngineID, pdu->securityEngineIDLen);
		l->engine_len = pdu->securityEngineIDLen;
		/* acted on once net-snmp is done with this packet: csnmp_settle() */
		l->engine = CSNMP_ENGINE_FOUND;
		return 1;
	}
	l->engine = CSNMP_ENGINE_UNKNOWN;
	csnmp_unhold(l);
	if (!p->outstanding)
		return 1;
	p->outstanding = 0;
	if (op == NETSNMP_CALLBACK_OP_TIMED_OUT)
		csnmp_fail(p, OUTCOME_TIMEOUT,
			   "no answer from %s to SNMPv3 engine discovery within %g s (%d "
			   "tr%s; device down or not speaking SNMPv3?)",
			   p->shown, p->c->timeout_ms / 1000.0, p->retries + 1,
			   p->retries > 0 ? "ies" : "y");
	else
		csnmp_fail(p, OUTCOME_ERROR,
			   "%s answered SNMPv3 engine discovery without an engine ID", p->shown);
	return 1;
}

static void csnmp_hex(char *buf, size_t len, const u_char *b, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off + 3 <= len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%02x", b[i]);
}

/* After net-snmp is done with a packet: the engine found, the held requests go. */
static void csnmp_settle(struct csnmp_priv *p)
{
	struct csnmp_link *l = p->link;
	netsnmp_session *s;
	char why[1024], hex[2 * SNMP_MAX_ENG_SIZE + 1];

	if (l == NULL || l->engine != CSNMP_ENGINE_FOUND || p->closing)
		return;
	s = snmp_sess_session(p->sessp);
	csnmp_engine_set(&s->securityEngineID, &s->securityEngineIDLen, l->engine_id,
			 l->engine_len);
	csnmp_engine_set(&s->contextEngineID, &s->contextEngineIDLen, l->engine_id, l->engine_len);
	csnmp_hex(hex, sizeof(hex), l->engine_id, l->engine_len);
	if (csnmp_user_attach(p, why, sizeof(why)) < 0) {
		l->engine = CSNMP_ENGINE_UNKNOWN;
		csnmp_unhold(l);
		p->outstanding = 0;
		csnmp_fail(p, OUTCOME_ERROR, "%s", why);
		return;
	}
	l->engine = CSNMP_ENGINE_KNOWN;
	l->found_this_run = 1;
	log_debug("snmp \"%s\": SNMPv3 engine of %s is %s", p->c->name, p->addr, hex);
	while (l->held != NULL) {
		struct csnmp_wait *w = l->held;

		l->held = w->next;
		if (csnmp_submit(p, w->pdu, w->cb, w->what) < 0) {
			free(w);
			csnmp_unhold(l);
			break;
		}
		free(w);
	}
	l->held_tail = &l->held;
}

/* A request of the run ended on a Report: the outcome says which, never a key. */
static void csnmp_report(struct csnmp_priv *p, netsnmp_pdu *pdu)
{
	int report = snmpv3_get_report_type(pdu);
	char why[SAMPLE_REASON_MAX + 1];
	enum outcome o = csnmp_usm_report(p->usm, report, p->shown, why, sizeof(why));

	if (report == SNMPERR_UNKNOWN_ENG_ID || report == SNMPERR_NOT_IN_TIME_WINDOW)
		p->link->engine = CSNMP_ENGINE_UNKNOWN;
	csnmp_fail(p, o, "%s", why);
}

/* No answer to a v3 request: the engine is looked for again at the next one. */
static void csnmp_v3_timeout(struct csnmp_priv *p)
{
	struct csnmp_link *l = p->link;
	char tries[32] = "";

	l->engine = CSNMP_ENGINE_UNKNOWN;
	/*
	 * A device that answered this run's earlier requests knows the user and
	 * its keys: this one was too much for it. As on v2c, the outcome names
	 * the request ("request 3 of this run"), and a GETBULK gets fewer rows.
	 */
	if (p->nanswered > 0) {
		p->got = CSNMP_GOT_TIMEOUT;
		return;
	}
	if (p->retries > 0)
		snprintf(tries, sizeof(tries), " (%d tries)", p->retries + 1);
	/*
	 * A replaced device's engine answers with a report for a user it cannot
	 * know, which net-snmp drops: the request then times out.
	 */
	if (l->unreadable && !l->found_this_run)
		csnmp_fail(p, OUTCOME_TIMEOUT,
			   "no answer from %s within %g s%s that the agent could read (a report "
			   "from another SNMPv3 engine: device replaced?): discovered again at the "
			   "next run",
			   p->shown, p->c->timeout_ms / 1000.0, tries);
	/* snmpd drops a request it cannot decrypt without a word */
	else if (l->found_this_run && p->usm->priv != NULL)
		csnmp_fail(p, OUTCOME_TIMEOUT,
			   "no answer from %s within %g s%s though its SNMPv3 engine answered "
			   "discovery: wrong priv_password or priv_protocol %s for user \"%s\"?",
			   p->shown, p->c->timeout_ms / 1000.0, tries, p->usm->priv->name,
			   p->usm->name);
	else
		csnmp_fail(p, OUTCOME_TIMEOUT, "no answer from %s within %g s%s (device down%s?)",
			   p->shown, p->c->timeout_ms / 1000.0, tries,
			   p->usm->priv != NULL ? ", or a wrong priv_password" : "");
}

/*
 * The answer, kept for the run past the callback, after which net-snmp
 * frees `pdu`: its varbinds move to a copy of the header rather than being
 * copied one by one (a walk's answer holds hundreds); net-snmp reads them
 * no more once the callback returns.
 */
static netsnmp_pdu *csnmp_pdu_take(netsnmp_pdu *pdu)
{
	netsnmp_variable_list *vars = pdu->variables;
	netsnmp_pdu *copy;

	pdu->variables = NULL;
	copy = snmp_clone_pdu(pdu);
	if (copy == NULL)
		fatalx("snmp: out of memory copying a response");
	copy->variables = vars;
	return copy;
}

/* net-snmp calls this from snmp_sess_read2/timeout/close; it only records. */
static int csnmp_cb(int op, netsnmp_session *sess, int reqid, netsnmp_pdu *pdu, void *arg)
{
	struct csnmp_priv *p = arg;

	if (op == NETSNMP_CALLBACK_OP_RESEND || op == NETSNMP_CALLBACK_OP_CONNECT)
		return 1; /* progress, not an outcome */
	/* a Report comes twice: as a message, then as the error that ends the request */
	if (op == NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE && pdu != NULL &&
	    pdu->command == SNMP_MSG_REPORT)
		return 1;
	if (p->closing)
		return 1;
	csnmp_slot_free(p);
	if (!p->outstanding)
		return 1;
	switch (op) {
	case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
		if (pdu == NULL || pdu->command != SNMP_MSG_RESPONSE) {
			p->got = CSNMP_GOT_FAILED;
			p->failed_op = pdu ? (int)pdu->command : 0;
			break;
		}
		p->resp = csnmp_pdu_take(pdu);
		p->got = CSNMP_GOT_RESPONSE;
		p->nanswered++;
		break;
	case NETSNMP_CALLBACK_OP_TIMED_OUT:
		if (p->usm != NULL)
			csnmp_v3_timeout(p);
		else
			p->got = CSNMP_GOT_TIMEOUT;
		break;
	case NETSNMP_CALLBACK_OP_SEC_ERROR:
		if (p->usm != NULL && pdu != NULL) {
			csnmp_report(p, pdu);
			break;
		}
		/* FALLTHROUGH */
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
	struct csnmp_link *l = p->link;

	p->outstanding = 1;
	p->nreq++;
	if (p->nreq == 1)
		l->found_this_run = l->unreadable = 0;
	if (p->usm != NULL && l->engine != CSNMP_ENGINE_KNOWN) {
		/* the request waits for the engine ID: discovery first, on the loop */
		struct csnmp_wait *w = xcalloc(1, sizeof(*w));

		w->p = p;
		w->pdu = pdu;
		w->cb = csnmp_cb;
		w->what = what;
		*l->held_tail = w;
		l->held_tail = &w->next;
		if (l->engine == CSNMP_ENGINE_UNKNOWN && csnmp_probe_send(p) < 0) {
			l->engine = CSNMP_ENGINE_UNKNOWN;
			csnmp_unhold(l);
			p->outstanding = 0;
			return -1;
		}
		return 0;
	}
	if (csnmp_submit(p, pdu, csnmp_cb, what) < 0) {
		p->outstanding = 0;
		return -1;
	}
	return 0;
}

void csnmp_timer_rearm(void *sessp, struct event *ev_timer)
{
	netsnmp_large_fd_set fds;
	struct timeval tv;
	int nfds = 0, block = 1;

	netsnmp_large_fd_set_init(&fds, FD_SETSIZE);
	timerclear(&tv);
	snmp_sess_select_info2_flags(sessp, &nfds, &fds, &tv, &block, NETSNMP_SELECT_NOALARMS);
	netsnmp_large_fd_set_cleanup(&fds);
	if (block)
		evtimer_del(ev_timer);
	else
		evtimer_add(ev_timer, &tv);
}

void csnmp_rearm(struct csnmp_priv *p)
{
	if (p->sessp != NULL && p->ev_timer != NULL)
		csnmp_timer_rearm(p->sessp, p->ev_timer);
}

static void csnmp_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct csnmp_priv *p = arg;
	netsnmp_large_fd_set fds;

	netsnmp_large_fd_set_init(&fds, fd + 1);
	NETSNMP_LARGE_FD_SET(fd, &fds);
	if (snmp_sess_read2(p->sessp, &fds) < 0) {
		log_debug("snmp \"%s\": unreadable packet from %s", p->c->name, p->addr);
		if (p->link != NULL)
			p->link->unreadable = 1;
	}
	netsnmp_large_fd_set_cleanup(&fds);
	csnmp_settle(p);
	csnmp_after_event(p);
}

static void csnmp_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct csnmp_priv *p = arg;

	snmp_sess_timeout(p->sessp);
	csnmp_settle(p);
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

/* The device's part of the shared state; once, however often the session reopens. */
static void csnmp_link_new(struct csnmp_priv *p)
{
	struct csnmp_shared *sh = check_kind_state(p->c);
	struct csnmp_link *l;

	if (p->link != NULL)
		return;
	if (sh == NULL)
		fatalx("snmp \"%s\": the kind's shared state is missing", p->c->name);
	if (sh->ev_dispatch == NULL)
		sh->ev_dispatch = event_new(p->c->base, -1, 0, csnmp_on_dispatch, sh);
	l = xcalloc(1, sizeof(*l));
	l->sh = sh;
	l->held_tail = &l->held;
	l->ev_wait = evtimer_new(p->c->base, csnmp_on_wait, p);
	if (sh->ev_dispatch == NULL || l->ev_wait == NULL)
		fatalx("snmp \"%s\": cannot create events", p->c->name);
	p->link = l;
}

/*
 * net-snmp's UDP/IPv4 receive, without the getsockname() it makes after
 * every datagram to learn the local address: that address only matters to
 * a server answering on the address a request came to, and these sessions
 * only send requests (their sends go to the session's peer, not to an
 * answer's addresses). One syscall less per answer. The answer's source
 * goes where net-snmp puts it, for its log lines.
 */
static int csnmp_udp_recv(netsnmp_transport *t, void *buf, int size, void **opaque, int *olength)
{
	netsnmp_indexed_addr_pair *ap;
	socklen_t fromlen = sizeof(ap->remote_addr);
	ssize_t rc;

	*opaque = NULL;
	*olength = 0;
	if (t == NULL || t->sock < 0)
		return -1;
	ap = calloc(1, sizeof(*ap));
	if (ap == NULL)
		return -1;
	do
		rc = recvfrom(t->sock, buf, (size_t)size, MSG_DONTWAIT, &ap->remote_addr.sa,
			      &fromlen);
	while (rc < 0 && errno == EINTR);
	*opaque = ap;
	*olength = sizeof(*ap);
	return (int)rc;
}

int csnmp_session_open(struct csnmp_priv *p)
{
	struct check *c = p->c;
	netsnmp_session s;
	netsnmp_transport *t;
	int liberr = 0, snmperr = 0;
	char *err = NULL;
	char why[SAMPLE_REASON_MAX + 1];

	csnmp_events_new(p);
	csnmp_lib_init();
	csnmp_link_new(p);
	snmp_sess_init(&s);
	s.peername = p->peername;
	s.version = p->version;
	if (p->usm != NULL) {
		if (csnmp_usm_session(p->usm, p->link->sh->kus, &s, why, sizeof(why)) < 0)
			return check_start_error(c, "%s", why);
	} else {
		s.community = (u_char *)p->community;
		s.community_len = strlen(p->community);
	}
	s.timeout = (long)(c->timeout_ms ? c->timeout_ms : 1) * 1000L;
	s.retries = p->retries;
	if (p->usm != NULL) {
		p->sessp = snmp_sess_open(&s); /* copies what it keeps */
	} else {
		/*
		 * As snmp_sess_open, with our own parser of the answers
		 * (snmp_ber.c): net-snmp's allocates for every varbind.
		 */
		s.myvoid = p;
		t = netsnmp_tdomain_transport_full("snmp", p->peername, 0, "udp,udp6", NULL);
		if (t == NULL) {
			s.s_snmp_errno = SNMPERR_BAD_ADDRESS;
			s.s_errno = errno;
		} else {
			if (netsnmp_oid_equals(t->domain, t->domain_length, netsnmpUDPDomain,
					       netsnmpUDPDomain_len) == 0)
				t->f_recv = csnmp_udp_recv;
			p->sessp = snmp_sess_add_ex(&s, t, NULL, csnmp_ber_parse, NULL, NULL, NULL,
						    NULL, NULL);
		}
	}
	explicit_bzero(s.securityAuthKey, sizeof(s.securityAuthKey));
	explicit_bzero(s.securityPrivKey, sizeof(s.securityPrivKey));
	if (p->sessp == NULL) {
		snmp_error(&s, &liberr, &snmperr, &err);
		/* the run's Result carries it; the check logs the transition */
		check_start_error(c, "cannot open an SNMP session to %s: %s", p->shown,
				  err ? err : "unknown error");
		free(err);
		return -1;
	}
	/* opening clears it: without it the first request would probe, blocking */
	snmp_sess_session(p->sessp)->flags |= SNMP_FLAGS_DONT_PROBE;
	p->link->engine = CSNMP_ENGINE_UNKNOWN;
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
	if (p->usm != NULL)
		log_debug("snmp \"%s\": session to %s (%s, v3 user \"%s\" %s%s%s%s%s, timeout %u "
			  "ms, %d retries)",
			  c->name, p->addr, p->peername, p->usm->name,
			  csnmp_usm_level_str(p->usm->level), p->usm->auth ? " " : "",
			  p->usm->auth ? p->usm->auth->name : "", p->usm->priv ? "/" : "",
			  p->usm->priv ? p->usm->priv->name : "", c->timeout_ms, p->retries);
	else
		log_debug("snmp \"%s\": session to %s (%s, v%s, timeout %u ms, %d retries)",
			  c->name, p->addr, p->peername, p->version == SNMP_VERSION_1 ? "1" : "2c",
			  c->timeout_ms, p->retries);
	return 0;
}

void csnmp_session_close(struct csnmp_priv *p)
{
	struct csnmp_link *l = p->link;

	p->closing = 1;
	if (l != NULL) {
		/* its slots are free for the others, its queued requests gone */
		csnmp_unqueue(p);
		csnmp_unhold(l);
		l->sh->busy -= l->busy;
		l->busy = 0;
		if (l->sh->head != NULL)
			event_active(l->sh->ev_dispatch, EV_TIMEOUT, 1);
		csnmp_user_detach(p);
		event_free(l->ev_wait);
		free(l);
		p->link = NULL;
	}
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
	free(p->rx);
	p->rx = NULL;
}
