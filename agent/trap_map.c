/*
 * trap_map.c - a decoded trap or inform to a Vakt event (see trap_map.h).
 * Everything in the PDU came from the network: lengths are checked before
 * each read and every string is bounded and made safe for a log line.
 */
#include "trap_map.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* RFC 3418 and RFC 2863 names, numeric, so that no MIB file is needed. */
static const oid sys_uptime0[] = {1, 3, 6, 1, 2, 1, 1, 3, 0};
static const oid trap_oid0[] = {1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0};
static const oid snmp_traps[] = {1, 3, 6, 1, 6, 3, 1, 1, 5};
static const oid if_entry[] = {1, 3, 6, 1, 2, 1, 2, 2, 1};
static const oid ifx_entry[] = {1, 3, 6, 1, 2, 1, 31, 1, 1, 1};

#define NOID(a) (sizeof(a) / sizeof((a)[0]))

/* The generic traps of RFC 1907, by their last sub-identifier under snmpTraps. */
static const char *const generic_names[] = {
    NULL, "coldStart", "warmStart", "linkDown", "linkUp", "authenticationFailure",
};

/* Columns shown by name in the text: entry OID, column, name. */
static const struct column {
	const oid *entry;
	size_t len;
	oid col;
	const char *name;
} columns[] = {
    {if_entry, NOID(if_entry), 1, "ifIndex"},      {if_entry, NOID(if_entry), 2, "ifDescr"},
    {if_entry, NOID(if_entry), 3, "ifType"},       {if_entry, NOID(if_entry), 7, "ifAdminStatus"},
    {if_entry, NOID(if_entry), 8, "ifOperStatus"}, {ifx_entry, NOID(ifx_entry), 1, "ifName"},
    {ifx_entry, NOID(ifx_entry), 18, "ifAlias"},
};

static int oid_is(const oid *name, size_t len, const oid *want, size_t wlen)
{
	return name != NULL && len == wlen && memcmp(name, want, wlen * sizeof(oid)) == 0;
}

static int oid_under(const oid *name, size_t len, const oid *prefix, size_t plen)
{
	return name != NULL && len > plen && memcmp(name, prefix, plen * sizeof(oid)) == 0;
}

int trap_oid_str(const oid *name, size_t len, char *buf, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return -1;
	buf[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		int w =
		    snprintf(buf + n, size - n, i ? ".%" PRIu64 : "%" PRIu64, (uint64_t)name[i]);

		if (w < 0 || (size_t)w >= size - n) {
			buf[n] = '\0';
			return -1;
		}
		n += (size_t)w;
	}
	return len > 0 ? 0 : -1;
}

/*
 * Appends to a bounded text; what does not fit is cut on a UTF-8 character
 * boundary, never overrun.
 */
struct text {
	char *buf;
	size_t size, len;
	int full; /* a part was cut: nothing after it is added */
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...)
{
	char part[EVENT_TEXT_MAX + 1];
	va_list ap;
	int w;
	size_t n, put;

	if (t->full)
		return;
	va_start(ap, fmt);
	w = vsnprintf(part, sizeof(part), fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	n = (size_t)w < sizeof(part) ? (size_t)w : sizeof(part) - 1;
	/* the parts are text already, so utf8_clean only cuts the last one whole */
	put = utf8_clean(t->buf + t->len, t->size - t->len, part, n);
	t->len += put;
	t->full = put < n || (size_t)w >= sizeof(part);
}

/* Bytes a person can read as they are: no control characters, at least one byte. */
static int printable(const u_char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return n > 0;
}

static void add_name(struct text *t, const netsnmp_variable_list *v)
{
	char o[SAMPLE_NAME_MAX + 1];

	for (size_t i = 0; i < NOID(columns); i++) {
		const struct column *c = &columns[i];

		if (oid_under(v->name, v->name_length, c->entry, c->len) &&
		    v->name[c->len] == c->col) {
			text_add(t, "%s", c->name);
			for (size_t k = c->len + 1; k < v->name_length; k++)
				text_add(t, ".%" PRIu64, (uint64_t)v->name[k]);
			return;
		}
	}
	if (trap_oid_str(v->name, v->name_length, o, sizeof(o)) < 0)
		text_add(t, "%s...", o);
	else
		text_add(t, "%s", o);
}

static void add_value(struct text *t, const netsnmp_variable_list *v)
{
	char o[SAMPLE_NAME_MAX + 1];
	const u_char *s = v->val.string;

	if (s == NULL && v->type != ASN_NULL && v->type != SNMP_NOSUCHOBJECT &&
	    v->type != SNMP_NOSUCHINSTANCE && v->type != SNMP_ENDOFMIBVIEW) {
		text_add(t, "?");
		return;
	}
	switch (v->type) {
	case ASN_INTEGER:
		text_add(t, "%ld", v->val_len >= sizeof(long) ? *v->val.integer : 0L);
		break;
	case ASN_COUNTER:
	case ASN_GAUGE:
	case ASN_TIMETICKS:
	case ASN_UINTEGER:
		text_add(t, "%lu",
			 v->val_len >= sizeof(long) ? (unsigned long)*v->val.integer & 0xffffffffUL
						    : 0UL);
		break;
	case ASN_COUNTER64:
		if (v->val_len >= sizeof(struct counter64))
			text_add(t, "%" PRIu64,
				 ((uint64_t)v->val.counter64->high << 32) |
				     (uint64_t)(v->val.counter64->low & 0xffffffffUL));
		else
			text_add(t, "?");
		break;
	case ASN_IPADDRESS:
		if (v->val_len == 4)
			text_add(t, "%u.%u.%u.%u", s[0], s[1], s[2], s[3]);
		else
			text_add(t, "?");
		break;
	case ASN_OBJECT_ID:
		if (trap_oid_str(v->val.objid, v->val_len / sizeof(oid), o, sizeof(o)) < 0)
			text_add(t, "%s...", o);
		else
			text_add(t, "%s", o);
		break;
	case ASN_OCTET_STR:
		if (printable(s, v->val_len)) {
			char str[EVENT_TEXT_MAX + 1];

			utf8_clean(str, sizeof(str), s, v->val_len);
			text_add(t, "\"%s\"", str);
		} else {
			text_add(t, "0x");
			for (size_t i = 0; i < v->val_len && t->len + 3 < t->size; i++)
				text_add(t, "%02x", s[i]);
		}
		break;
	case ASN_NULL:
		text_add(t, "null");
		break;
	case SNMP_NOSUCHOBJECT:
		text_add(t, "noSuchObject");
		break;
	case SNMP_NOSUCHINSTANCE:
		text_add(t, "noSuchInstance");
		break;
	case SNMP_ENDOFMIBVIEW:
		text_add(t, "endOfMibView");
		break;
	default:
		text_add(t, "(type 0x%02x)", (unsigned)v->type);
		break;
	}
}

/*
 * The interface of a linkDown or linkUp: ifName from the varbinds, else
 * ifDescr, else the ifIndex (its value, or the index of ifAdminStatus or
 * ifOperStatus), as the SNMP check names its files; and its ifAdminStatus
 * when the trap says it.
 */
static void find_interface(const netsnmp_variable_list *vars, char *out, size_t size, int *admin)
{
	const netsnmp_variable_list *name = NULL, *descr = NULL;
	long ifindex = -1;

	for (const netsnmp_variable_list *v = vars; v != NULL; v = v->next_variable) {
		int str = v->type == ASN_OCTET_STR && v->val.string != NULL && v->val_len > 0;

		if (oid_under(v->name, v->name_length, if_entry, NOID(if_entry)) &&
		    v->name[NOID(if_entry)] == 7 && v->type == ASN_INTEGER &&
		    v->val.integer != NULL && v->val_len >= sizeof(long) && *v->val.integer > 0 &&
		    *v->val.integer < 100)
			*admin = (int)*v->val.integer;
		if (oid_under(v->name, v->name_length, ifx_entry, NOID(ifx_entry)) &&
		    v->name[NOID(ifx_entry)] == 1 && str)
			name = v;
		else if (oid_under(v->name, v->name_length, if_entry, NOID(if_entry)) &&
			 v->name[NOID(if_entry)] == 2 && str)
			descr = v;
		else if (oid_under(v->name, v->name_length, if_entry, NOID(if_entry)) &&
			 v->name[NOID(if_entry)] == 1 && v->type == ASN_INTEGER &&
			 v->val.integer != NULL && v->val_len >= sizeof(long) &&
			 *v->val.integer > 0)
			ifindex = *v->val.integer;
		else if (ifindex < 0 &&
			 oid_under(v->name, v->name_length, if_entry, NOID(if_entry)) &&
			 v->name_length == NOID(if_entry) + 2 &&
			 (v->name[NOID(if_entry)] == 7 || v->name[NOID(if_entry)] == 8) &&
			 v->name[NOID(if_entry) + 1] > 0 &&
			 v->name[NOID(if_entry) + 1] <= 0x7fffffff)
			ifindex = (long)v->name[NOID(if_entry) + 1];
	}
	out[0] = '\0';
	if (name != NULL)
		utf8_clean(out, size, name->val.string, name->val_len);
	else if (descr != NULL)
		utf8_clean(out, size, descr->val.string, descr->val_len);
	if (out[0] == '\0' && ifindex > 0)
		snprintf(out, size, "%ld", ifindex);
}

/* The trap OID of a v1 Trap (RFC 3584, 3.1). */
static const char *v1_trap_oid(const netsnmp_pdu *pdu, oid *buf, size_t *len)
{
	if (pdu->trap_type >= 0 && pdu->trap_type <= 5) {
		memcpy(buf, snmp_traps, sizeof(snmp_traps));
		buf[NOID(snmp_traps)] = (oid)pdu->trap_type + 1;
		*len = NOID(snmp_traps) + 1;
		return NULL;
	}
	if (pdu->trap_type != 6)
		return "v1 trap with a generic-trap number other than 0..6";
	if (pdu->enterprise == NULL || pdu->enterprise_length == 0 ||
	    pdu->enterprise_length + 2 > MAX_OID_LEN)
		return "v1 enterprise-specific trap without a usable enterprise OID";
	memcpy(buf, pdu->enterprise, pdu->enterprise_length * sizeof(oid));
	*len = pdu->enterprise_length;
	buf[(*len)++] = 0;
	buf[(*len)++] = (oid)pdu->specific_type;
	return NULL;
}

int trap_map(const netsnmp_pdu *pdu, struct trap_event *ev, const char **why)
{
	oid v1oid[MAX_OID_LEN];
	const oid *toid = NULL;
	size_t tlen = 0;
	struct text t = {ev->text, sizeof(ev->text), 0, 0};

	memset(ev, 0, sizeof(*ev));
	*why = NULL;
	if (pdu->command == SNMP_MSG_TRAP) {
		*why = v1_trap_oid(pdu, v1oid, &tlen);
		toid = v1oid;
	} else if (pdu->command == SNMP_MSG_TRAP2 || pdu->command == SNMP_MSG_INFORM) {
		for (const netsnmp_variable_list *v = pdu->variables; v != NULL && toid == NULL;
		     v = v->next_variable)
			if (oid_is(v->name, v->name_length, trap_oid0, NOID(trap_oid0)) &&
			    v->type == ASN_OBJECT_ID && v->val.objid != NULL &&
			    v->val_len >= sizeof(oid)) {
				toid = v->val.objid;
				tlen = v->val_len / sizeof(oid);
			}
		if (toid == NULL)
			*why = "trap without an snmpTrapOID.0 varbind";
	} else {
		*why = "not a trap or an inform";
	}
	if (*why != NULL)
		return -1;
	if (trap_oid_str(toid, tlen, ev->oid, sizeof(ev->oid)) < 0) {
		*why = "trap OID longer than 128 characters";
		return -1;
	}
	if (tlen == NOID(snmp_traps) + 1 && memcmp(toid, snmp_traps, sizeof(snmp_traps)) == 0 &&
	    toid[tlen - 1] >= 1 && toid[tlen - 1] < NOID(generic_names))
		snprintf(ev->name, sizeof(ev->name), "%s", generic_names[toid[tlen - 1]]);
	else
		snprintf(ev->name, sizeof(ev->name), "%s", ev->oid);
	if (strcmp(ev->name, "linkDown") == 0 || strcmp(ev->name, "linkUp") == 0)
		find_interface(pdu->variables, ev->instance, sizeof(ev->instance), &ev->admin);
	if (pdu->command == SNMP_MSG_TRAP &&
	    pdu->agent_addr[0] | pdu->agent_addr[1] | pdu->agent_addr[2] | pdu->agent_addr[3])
		text_add(&t, "agent-addr=%u.%u.%u.%u", pdu->agent_addr[0], pdu->agent_addr[1],
			 pdu->agent_addr[2], pdu->agent_addr[3]);
	for (const netsnmp_variable_list *v = pdu->variables; v != NULL; v = v->next_variable) {
		/* the trap's own varbinds say what the event already does */
		if (oid_is(v->name, v->name_length, sys_uptime0, NOID(sys_uptime0)) ||
		    oid_is(v->name, v->name_length, trap_oid0, NOID(trap_oid0)))
			continue;
		if (t.len > 0)
			text_add(&t, " ");
		add_name(&t, v);
		text_add(&t, "=");
		add_value(&t, v);
	}
	return 0;
}
