/*
 * snmp_ber.c - reads the answers of SNMPv1/v2c devices without net-snmp's
 * per-varbind allocations: net-snmp's parse hook of such a session reads
 * the message and PDU header and keeps the varbind list's bytes, which the
 * run then reads one varbind at a time into one reused netsnmp_variable_list
 * (csnmp_vbs_next). A strict reader of outside input: anything malformed
 * is refused with what and where, never read past its end. SNMPv3 answers
 * (decrypted, authenticated) stay net-snmp's and come through the same
 * iterator from its list.
 */
#include "snmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/*
 * One TLV at *p (before end): its tag and its contents [*v, *v + *len).
 * Definite lengths only, in at most four length bytes; -1 when cut.
 */
static inline int ber_tlv(const u_char **p, const u_char *end, u_char *tag, const u_char **v,
			  size_t *len)
{
	const u_char *q = *p;
	size_t n;

	if (end - q < 2)
		return -1;
	*tag = *q++;
	/* SNMP's tags are all one byte: a high tag number is not SNMP */
	if ((*tag & 0x1f) == 0x1f)
		return -1;
	n = *q++;
	if (n & 0x80) {
		size_t k = n & 0x7f;

		if (k == 0 || k > 4 || (size_t)(end - q) < k)
			return -1;
		for (n = 0; k > 0; k--)
			n = n << 8 | *q++;
	}
	if (n > (size_t)(end - q))
		return -1;
	*v = q;
	*len = n;
	*p = q + n;
	return 0;
}

/* A two's complement INTEGER of at most 8 bytes, as net-snmp's asn_parse_int. */
static int ber_int(const u_char *v, size_t len, long *out)
{
	uint64_t u;

	if (len == 0 || len > sizeof(long))
		return -1;
	u = (v[0] & 0x80) ? ~(uint64_t)0 : 0;
	for (size_t i = 0; i < len; i++)
		u = u << 8 | v[i];
	*out = (long)u;
	/* net-snmp keeps an INTEGER to 32 bits so, and the values must be its */
	if (*out > INT32_MAX)
		*out &= 0xffffffffL;
	else if (*out < INT32_MIN)
		*out = 0 - (*out & 0xffffffffL);
	return 0;
}

/* An unsigned number of `bytes` bytes at most, one more for a leading zero. */
static int ber_uint(const u_char *v, size_t len, size_t bytes, uint64_t *out)
{
	uint64_t u = 0;

	if (len == 0 || len > bytes + 1 || (len == bytes + 1 && v[0] != 0))
		return -1;
	for (size_t i = 0; i < len; i++)
		u = u << 8 | v[i];
	*out = u;
	return 0;
}

/*
 * The sub-identifiers of an OBJECT IDENTIFIER's contents [v, v + len) into
 * o[n...] (room for MAX_OID_LEN); n is 1 for a whole one, whose first
 * sub-identifier (two arcs) is split at the end, as net-snmp's asn_parse_objid.
 */
static int ber_oid_from(const u_char *v, size_t len, oid *o, size_t n, size_t *olen)
{
	int whole = n == 1;

	while (len > 0) {
		uint64_t sub = 0;
		u_char c;

		/* most sub-identifiers are below 128: one byte */
		if (!(*v & 0x80)) {
			if (n >= MAX_OID_LEN)
				return -1;
			o[n++] = *v++;
			len--;
			continue;
		}
		do {
			if (len == 0 || sub > (0xffffffffULL >> 7))
				return -1; /* cut inside a sub-identifier, or larger than 32 bits */
			c = *v++;
			len--;
			sub = sub << 7 | (c & 0x7f);
		} while (c & 0x80);
		if (sub > 0xffffffffULL || n >= MAX_OID_LEN)
			return -1;
		o[n++] = (oid)sub;
	}
	*olen = n;
	if (!whole)
		return 0;
	/* the first sub-identifier holds the first two arcs */
	if (o[1] < 40) {
		o[0] = 0;
	} else if (o[1] < 80) {
		o[0] = 1;
		o[1] -= 40;
	} else {
		o[0] = 2;
		o[1] -= 80;
	}
	return 0;
}

/*
 * An OBJECT IDENTIFIER into o (room for MAX_OID_LEN), as net-snmp's
 * asn_parse_objid reads it, but for an empty one (06 00, which no device
 * should send): net-snmp writes 0.0 and counts one sub-identifier (the OID
 * "0"); this reads 0.0, two. Neither is under any subtree the agent asks
 * for, so a walk leaves its column there either way (test_snmp_ber).
 */
static int ber_oid(const u_char *v, size_t len, oid *o, size_t *olen)
{
	if (len == 0) {
		o[0] = o[1] = 0;
		*olen = 2;
		return 0;
	}
	return ber_oid_from(v, len, o, 1, olen);
}

/* a[0, n) == b[0, n): a table column's OID is 8 to 16 bytes, two loads each, no call */
static inline int ber_same(const u_char *a, const u_char *b, size_t n)
{
	uint64_t x, y, u, w;

	if (n < 8 || n > 16)
		return memcmp(a, b, n) == 0;
	memcpy(&x, a, 8);
	memcpy(&y, b, 8);
	memcpy(&u, a + n - 8, 8);
	memcpy(&w, b + n - 8, 8);
	return ((x ^ y) | (u ^ w)) == 0;
}

/*
 * A varbind's name into it->vb, as ber_oid reads it. The names of an answer
 * share most of their bytes with the name before them (a row's columns, the
 * next row of a column): the sub-identifiers of the bytes they share are
 * already in name_loc, from that name, and only the rest is read.
 */
static inline __attribute__((always_inline)) int ber_name(struct csnmp_vbs *it, const u_char *v,
							  size_t len)
{
	netsnmp_variable_list *vb = &it->vb;
	const u_char *pv = it->pname;
	const struct csnmp_colhint *h = it->hint;
	size_t plen = it->pnamelen, lim = len < plen ? len : plen, same = 0, n = 1;
	int r;

	/*
	 * A walk's varbind in the column it asked: the column's sub-identifiers
	 * are known, only the row's are read (the column's bytes end one)
	 */
	it->in_col = 0;
	if (h != NULL && h->blen > 0 && len > h->blen && ber_same(v, h->ber, h->blen)) {
		if (it->col_loaded != h->col) {
			/* the sub-identifiers it shares with the column before are there */
			size_t from = it->col_loaded == h->prev ? h->keep : 0;

			for (size_t k = from; k < h->len; k++)
				vb->name_loc[k] = h->col[k];
			it->col_loaded = h->col;
		}
		it->pname = NULL;
		if (len - h->blen == 1 && v[h->blen] < 0x80) {
			/* a row of one sub-identifier below 128: most are */
			vb->name_loc[h->len] = v[h->blen];
			vb->name_length = h->len + 1;
			r = 0;
		} else {
			r = ber_oid_from(v + h->blen, len - h->blen, vb->name_loc, h->len,
					 &vb->name_length);
		}
		if (r == 0) {
			it->pname = v;
			it->pnamelen = len;
			it->in_col = 1;
		}
		return r;
	}
	/* name_loc is the last name's: it no longer begins with a column's as loaded */
	it->col_loaded = NULL;

	if (pv != NULL && len > 0) {
		uint64_t a, b;

		while (same + 8 <= lim) {
			memcpy(&a, v + same, 8);
			memcpy(&b, pv + same, 8);
			if (a != b) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
				/* the lowest differing byte is the first */
				same += (size_t)__builtin_ctzll(a ^ b) / 8;
				lim = same;
#endif
				break;
			}
			same += 8;
		}
		while (same < lim && v[same] == pv[same])
			same++;
		/* back to the end of a sub-identifier */
		while (same > 0 && (v[same - 1] & 0x80))
			same--;
	}
	if (same > 0) {
		/* the shared sub-identifiers (the first, two arcs, in o[0] and o[1]) are
		 * the last name's but those its bytes after them end */
		n = vb->name_length;
		if (n == plen + 1) /* each of its bytes ended a sub-identifier */
			n -= plen - same;
		else
			for (size_t k = same; k < plen; k++)
				n -= !(pv[k] & 0x80);
	}
	it->pname = NULL;
	if (same > 0)
		r = ber_oid_from(v + same, len - same, vb->name_loc, n, &vb->name_length);
	else
		r = ber_oid(v, len, vb->name_loc, &vb->name_length);
	if (r == 0) {
		it->pname = v;
		it->pnamelen = len;
	}
	return r;
}

int csnmp_ber_parse(netsnmp_session *sess, netsnmp_pdu *pdu, u_char *pkt, size_t len)
{
	struct csnmp_priv *p = sess->myvoid;
	const u_char *q = pkt, *end = pkt + len, *msg, *v, *pd;
	size_t mlen, vlen, pdlen;
	u_char tag;
	long version, reqid, errstat, errindex;

	/* Message ::= SEQUENCE { version, community, PDU } */
	if (ber_tlv(&q, end, &tag, &msg, &mlen) < 0 || tag != (ASN_SEQUENCE | ASN_CONSTRUCTOR))
		return -1;
	q = msg;
	end = msg + mlen;
	if (ber_tlv(&q, end, &tag, &v, &vlen) < 0 || tag != ASN_INTEGER ||
	    ber_int(v, vlen, &version) < 0 || version != sess->version)
		return -1;
	if (ber_tlv(&q, end, &tag, &v, &vlen) < 0 || tag != ASN_OCTET_STR)
		return -1;
	/* PDU ::= [type] { request-id, error-status, error-index, varbinds } */
	if (ber_tlv(&q, end, &tag, &pd, &pdlen) < 0 ||
	    (tag & 0xe0) != (ASN_CONTEXT | ASN_CONSTRUCTOR))
		return -1;
	q = pd;
	end = pd + pdlen;
	pdu->version = version;
	pdu->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
	pdu->securityModel =
	    version == SNMP_VERSION_1 ? SNMP_SEC_MODEL_SNMPv1 : SNMP_SEC_MODEL_SNMPv2c;
	pdu->command = tag;
	pdu->flags &= ~UCD_MSG_FLAG_RESPONSE_PDU;
	/* a poller's session only ever takes answers; anything else is dropped */
	if (tag != SNMP_MSG_RESPONSE && tag != SNMP_MSG_REPORT)
		return -1;
	if (ber_tlv(&q, end, &tag, &v, &vlen) < 0 || tag != ASN_INTEGER ||
	    ber_int(v, vlen, &reqid) < 0)
		return -1;
	if (ber_tlv(&q, end, &tag, &v, &vlen) < 0 || tag != ASN_INTEGER ||
	    ber_int(v, vlen, &errstat) < 0)
		return -1;
	if (ber_tlv(&q, end, &tag, &v, &vlen) < 0 || tag != ASN_INTEGER ||
	    ber_int(v, vlen, &errindex) < 0)
		return -1;
	if (ber_tlv(&q, end, &tag, &v, &vlen) < 0 || tag != (ASN_SEQUENCE | ASN_CONSTRUCTOR))
		return -1;
	pdu->flags |= UCD_MSG_FLAG_RESPONSE_PDU;
	pdu->reqid = reqid;
	pdu->errstat = errstat;
	pdu->errindex = errindex;
	/* the varbinds' bytes, read by the run once net-snmp has matched the request */
	if (p != NULL) {
		free(p->rx);
		p->rx = xmalloc(vlen ? vlen : 1);
		memcpy(p->rx, v, vlen);
		p->rxlen = vlen;
	}
	return 0;
}

size_t csnmp_ber_oid_put(u_char *out, size_t cap, const oid *o, size_t len)
{
	size_t n = 0;

	if (len < 2 || o[0] > 2 || (o[0] < 2 && o[1] >= 40))
		return 0;
	for (size_t i = 1; i < len; i++) {
		uint64_t sub = i == 1 ? o[0] * 40 + o[1] : o[i];
		u_char tmp[10];
		size_t k = 0;

		if (sub > 0xffffffffULL)
			return 0;
		do {
			tmp[k++] = (u_char)(sub & 0x7f);
			sub >>= 7;
		} while (sub > 0);
		if (cap - n < k)
			return 0;
		while (k > 0) {
			k--;
			out[n++] = (u_char)(tmp[k] | (k > 0 ? 0x80 : 0));
		}
	}
	return n;
}

void csnmp_vbs_begin(struct csnmp_vbs *it, const u_char *raw, size_t len, const netsnmp_pdu *resp)
{
	it->raw = raw != NULL;
	it->p = raw;
	it->end = raw != NULL ? raw + len : NULL;
	it->list = raw != NULL ? NULL : resp->variables;
	it->why = NULL;
	it->pname = NULL;
	it->pnamelen = 0;
	it->hint = NULL;
	it->col_loaded = NULL;
	it->in_col = 0;
}

int csnmp_vbs_next(struct csnmp_vbs *it, const netsnmp_variable_list **out)
{
	netsnmp_variable_list *vb = &it->vb;
	const u_char *q, *end, *v;
	size_t vlen, len;
	u_char tag;
	uint64_t u;

	if (!it->raw) {
		it->in_col = 0;
		if (it->list == NULL)
			return 0;
		*out = it->list;
		it->list = it->list->next_variable;
		return 1;
	}
	if (it->p >= it->end)
		return 0;
	q = it->p;
	len = (size_t)(it->end - q);
	/*
	 * VarBind ::= SEQUENCE { name OBJECT IDENTIFIER, value }. Nearly every
	 * one has lengths of one byte: read so at once, what ber_tlv would read
	 * of it; anything else goes the long way, which says what is wrong.
	 */
	if (len >= 6 && q[0] == (ASN_SEQUENCE | ASN_CONSTRUCTOR) && q[1] < 0x80 &&
	    (size_t)q[1] + 2 <= len && q[2] == ASN_OBJECT_ID && q[3] < 0x80 &&
	    (size_t)q[3] + 4 <= q[1] && (q[q[3] + 4] & 0x1f) != 0x1f && q[q[3] + 5] < 0x80 &&
	    (size_t)q[3] + q[q[3] + 5] + 4 == q[1]) {
		if (ber_name(it, q + 4, q[3]) < 0) {
			it->why = "a varbind name that is not an OID";
			return -1;
		}
		tag = q[q[3] + 4];
		vlen = q[q[3] + 5];
		v = q + q[3] + 6;
		it->p = q + q[1] + 2;
	} else {
		if (ber_tlv(&it->p, it->end, &tag, &q, &len) < 0 ||
		    tag != (ASN_SEQUENCE | ASN_CONSTRUCTOR)) {
			it->why = "a varbind that is not a SEQUENCE";
			return -1;
		}
		end = q + len;
		if (ber_tlv(&q, end, &tag, &v, &vlen) < 0 || tag != ASN_OBJECT_ID ||
		    ber_name(it, v, vlen) < 0) {
			it->why = "a varbind name that is not an OID";
			return -1;
		}
		if (ber_tlv(&q, end, &tag, &v, &vlen) < 0 || q != end) {
			it->why = "a varbind value cut or followed by more";
			return -1;
		}
	}
	vb->name = vb->name_loc;
	vb->next_variable = NULL;
	vb->type = tag;
	vb->val_len = 0;
	vb->val.string = NULL;
	switch (tag) {
	case ASN_INTEGER:
		if (ber_int(v, vlen, &it->l) < 0) {
			it->why = "an INTEGER longer than 8 bytes";
			return -1;
		}
		vb->val.integer = &it->l;
		vb->val_len = sizeof(long);
		break;
	case ASN_COUNTER:
	case ASN_GAUGE:
	case ASN_TIMETICKS:
	case ASN_UINTEGER:
		/* net-snmp keeps the low 32 bits of a longer one, and says so */
		if (ber_uint(v, vlen, sizeof(long), &u) < 0) {
			it->why = "a 32-bit number longer than 8 bytes";
			return -1;
		}
		it->l = (long)(u & 0xffffffffULL);
		vb->val.integer = &it->l;
		vb->val_len = sizeof(long);
		break;
	case ASN_COUNTER64:
		if (ber_uint(v, vlen, 8, &u) < 0) {
			it->why = "a Counter64 longer than 8 bytes";
			return -1;
		}
		it->c64.high = (u_long)(u >> 32);
		it->c64.low = (u_long)(u & 0xffffffffULL);
		vb->val.counter64 = &it->c64;
		vb->val_len = sizeof(it->c64);
		break;
	case ASN_OCTET_STR:
	case ASN_BIT_STR:
	case ASN_IPADDRESS:
	case ASN_OPAQUE:
	case ASN_NSAP:
		/* points into the answer, which outlives the varbind */
		vb->val.string = (u_char *)v;
		vb->val_len = vlen;
		break;
	case ASN_OBJECT_ID:
		if (ber_oid(v, vlen, it->oidval, &len) < 0) {
			it->why = "an OID value that does not decode";
			return -1;
		}
		vb->val.objid = it->oidval;
		vb->val_len = len * sizeof(oid);
		break;
	case ASN_NULL:
	case SNMP_NOSUCHOBJECT:
	case SNMP_NOSUCHINSTANCE:
	case SNMP_ENDOFMIBVIEW:
		if (vlen != 0) {
			it->why = "a NULL or exception with contents";
			return -1;
		}
		break;
	default:
		it->why = "a varbind value of an unknown type";
		return -1;
	}
	*out = vb;
	return 1;
}
