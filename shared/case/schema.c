/* shared/case/schema.c - the case schema table and identifier validators. */
#include "case/schema.h"

#include <stdint.h>
#include <string.h>

static const char *const statuses[] = {"intake", "open", "investigation", "review", "referred",
	"pending-approval", "closed", NULL};
static const char *const categories[] = {"corruption", "bribery", "smuggling", "use-of-force",
	"civil-rights", "sexual-misconduct", "domestic-violence", "drugs-alcohol", "theft",
	"misuse-of-systems", "unauthorized-disclosure", "ethics", "off-duty-misconduct",
	"lack-of-candor", "neglect-of-duty", "other", NULL};
static const char *const dispositions[] = {"sustained", "not-sustained", "unfounded", "exonerated",
	"policy-failure", "administratively-closed", NULL};
static const char *const sources[] = {"hotline", "referral", "supervisor", "self-report",
	"public-complaint", "audit", "other", NULL};

static const struct schema_field fields[] = {
	{"title", SCHEMA_LINE, NULL, 0, 0, 200, 1, NULL, 1, "short title of the case"},
	{"category", SCHEMA_ENUM, categories, 0, 0, 32, 1, NULL, 0, "allegation category"},
	{"status", SCHEMA_ENUM, statuses, 0, 0, 32, 0, "intake", 0, "case status"},
	{"priority", SCHEMA_INT, NULL, 1, 4, 9, 0, "3", 0, "1 (highest) to 4"},
	{"assignee", SCHEMA_LINE, NULL, 0, 0, 64, 0, NULL, 1, "assigned investigator"},
	{"disposition", SCHEMA_ENUM, dispositions, 0, 0, 32, 0, NULL, 0, "finding at closure"},
	{"source", SCHEMA_ENUM, sources, 0, 0, 32, 0, NULL, 0, "how the allegation came in"},
	{"received_at", SCHEMA_DATE, NULL, 0, 0, 20, 0, NULL, 0, "date the allegation came in"},
	{"opened_at", SCHEMA_DATE, NULL, 0, 0, 20, 0, NULL, 0, "date the case was opened"},
	{"closed_at", SCHEMA_DATE, NULL, 0, 0, 20, 0, NULL, 0, "date the case was closed"},
	{"due_at", SCHEMA_DATE, NULL, 0, 0, 20, 0, NULL, 0,
		"deadline (set at intake by the category's policy, or by a supervisor)"},
	{"location", SCHEMA_LINE, NULL, 0, 0, 200, 0, NULL, 1, "where it happened"},
	{"subject_name", SCHEMA_LINE, NULL, 0, 0, 200, 0, NULL, 1, "name of the subject (PII)"},
	{"subject_id", SCHEMA_LINE, NULL, 0, 0, 64, 0, NULL, 0, "employee id of the subject (PII)"},
	{"summary", SCHEMA_TEXT, NULL, 0, 0, 4096, 0, NULL, 1, "short synopsis"},
	{"subject_unit", SCHEMA_LINE, NULL, 0, 0, 200, 0, NULL, 1,
		"unit or duty station of the subject"},
	{"complainant_name", SCHEMA_LINE, NULL, 0, 0, 200, 0, NULL, 0,
		"name of the complainant (PII)"},
	{"external_ref", SCHEMA_LINE, NULL, 0, 0, 64, 0, NULL, 1,
		"reference number at the referring or receiving agency"},
	{"referred_to", SCHEMA_LINE, NULL, 0, 0, 200, 0, NULL, 0,
		"agency or office the case was referred to"},
};

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))
_Static_assert(N_FIELDS <= SCHEMA_MAX_FIELDS, "schema table too large");

size_t schema_count(void)
{
	return N_FIELDS;
}

const struct schema_field *schema_at(size_t i)
{
	return i < N_FIELDS ? &fields[i] : NULL;
}

int schema_index(const char *name)
{
	size_t i;

	for (i = 0; i < N_FIELDS; i++)
		if (strcmp(fields[i].name, name) == 0)
			return (int)i;
	return -1;
}

const struct schema_field *schema_field(const char *name)
{
	int i = schema_index(name);

	return i < 0 ? NULL : &fields[i];
}

/* Length of the UTF-8 sequence at p (1-4), or 0 if it is not valid (overlong, surrogate...). */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
	uint32_t cp;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		n = 2, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		n = 3, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int schema_check_text(const char *what, const char *text, size_t len, size_t max)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0;

	if (len > max)
		return err_set(ERR_TOOBIG, "%s is %zu bytes, more than the limit of %zu", what, len,
			max);
	while (i < len) {
		size_t n = utf8_seq(p + i, len - i);

		if (n == 0)
			return err_set(ERR_INVALID, "%s is not valid UTF-8 (byte %zu)", what, i);
		if (n == 1 && (p[i] < 0x20 || p[i] == 0x7f) && p[i] != '\n' && p[i] != '\t' &&
			p[i] != '\r')
			return err_set(ERR_INVALID, "%s contains a control character (byte %zu)",
				what, i);
		i += n;
	}
	return 0;
}

static int is_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int num(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

static int check_date(const char *v)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	size_t len = strlen(v);
	int y, m, d;

	if (len != 10 && len != 20)
		return -1;
	if (!is_digits(v, 4) || v[4] != '-' || !is_digits(v + 5, 2) || v[7] != '-' ||
		!is_digits(v + 8, 2))
		return -1;
	y = num(v, 4);
	m = num(v + 5, 2);
	d = num(v + 8, 2);
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return -1;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	if (len == 20 && (v[10] != 'T' || !is_digits(v + 11, 2) || v[13] != ':' ||
				 !is_digits(v + 14, 2) || v[16] != ':' || !is_digits(v + 17, 2) ||
				 v[19] != 'Z' || num(v + 11, 2) > 23 || num(v + 14, 2) > 59 ||
				 num(v + 17, 2) > 60))
		return -1;
	return 0;
}

static int check_int(const struct schema_field *f, const char *v)
{
	size_t len = strlen(v);
	long n = 0;
	size_t i;

	if (len == 0 || len > 9 || (v[0] == '0' && len > 1))
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	return n >= f->min && n <= f->max ? 0 : -1;
}

static int check_enum(const struct schema_field *f, const char *v)
{
	const char *const *p;

	for (p = f->values; *p; p++)
		if (strcmp(*p, v) == 0)
			return 0;
	return -1;
}

static int enum_error(const struct schema_field *f, const char *v)
{
	char list[512];
	size_t used = 0;
	const char *const *p;

	list[0] = '\0';
	for (p = f->values; *p && used < sizeof(list) - 40; p++) {
		size_t n = strlen(*p);

		if (used + n + 3 >= sizeof(list))
			break;
		if (used) {
			memcpy(list + used, ", ", 2);
			used += 2;
		}
		memcpy(list + used, *p, n + 1);
		used += n;
	}
	return err_set(ERR_INVALID, "'%s' is not a valid %s (one of: %s)", v, f->name, list);
}

int schema_check_value(const struct schema_field *f, const char *v)
{
	size_t len = strlen(v);
	int error;

	if (len == 0)
		return f->required ? err_set(ERR_INVALID, "field '%s' cannot be empty", f->name) : 0;
	if (len > f->max_len)
		return err_set(ERR_TOOBIG, "field '%s' is %zu bytes, more than the limit of %zu",
			f->name, len, f->max_len);
	error = schema_check_text(f->name, v, len, f->max_len);
	if (error)
		return error;
	switch (f->kind) {
	case SCHEMA_LINE:
		if (strchr(v, '\n') || strchr(v, '\r'))
			return err_set(ERR_INVALID, "field '%s' must be a single line", f->name);
		return 0;
	case SCHEMA_TEXT:
		return 0;
	case SCHEMA_ENUM:
		return check_enum(f, v) ? enum_error(f, v) : 0;
	case SCHEMA_INT:
		if (check_int(f, v))
			return err_set(ERR_INVALID, "'%s' is not a valid %s (a number from %ld to %ld)",
				v, f->name, f->min, f->max);
		return 0;
	case SCHEMA_DATE:
		if (check_date(v))
			return err_set(ERR_INVALID,
				"'%s' is not a valid %s (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)", v,
				f->name);
		return 0;
	}
	return err_set(ERR_INVALID, "field '%s' has an unknown kind", f->name);
}

int schema_check_office(const char *code)
{
	size_t len = strlen(code), i;

	if (len < 2 || len > SCHEMA_OFFICE_MAX || code[0] < 'A' || code[0] > 'Z')
		goto bad;
	for (i = 0; i < len; i++)
		if (!((code[i] >= 'A' && code[i] <= 'Z') || (code[i] >= '0' && code[i] <= '9')))
			goto bad;
	return 0;
bad:
	return err_set(ERR_INVALID,
		"'%s' is not a valid office code (2 to 8 of A-Z and 0-9, starting with a letter)",
		code);
}

int schema_check_user(const char *name)
{
	size_t len = strlen(name), i;

	if (len < 1 || len > SCHEMA_USER_MAX || name[0] < 'a' || name[0] > 'z')
		goto bad;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			    c == '-'))
			goto bad;
	}
	return 0;
bad:
	return err_set(ERR_INVALID,
		"'%s' is not a valid user name (1 to 64 of a-z, 0-9, '.', '_', '-', starting with "
		"a letter)",
		name);
}

int schema_check_case_id(const char *id)
{
	static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	const char *dash1 = strchr(id, '-');
	char office[SCHEMA_OFFICE_MAX + 1];
	size_t olen, i;

	if (!dash1 || (olen = (size_t)(dash1 - id)) > SCHEMA_OFFICE_MAX || strlen(id) != olen + 11)
		goto bad;
	memcpy(office, id, olen);
	office[olen] = '\0';
	if (schema_check_office(office) || !is_digits(dash1 + 1, 2) || dash1[3] != '-')
		goto bad;
	for (i = 4; i < 11; i++)
		if (!dash1[i] || !strchr(crockford, dash1[i]))
			goto bad;
	return 0;
bad:
	return err_set(ERR_INVALID, "'%s' is not a valid case id (like ELP-26-7KQ4M2X)", id);
}

static int role_in(const char *role, const char *const *roles, const char *names)
{
	const char *const *p;

	for (p = roles; *p; p++)
		if (strcmp(*p, role) == 0)
			return 0;
	return err_set(ERR_INVALID, "'%s' is not a role (%s)", role, names);
}

int schema_check_role(const char *role)
{
	static const char *const roles[] = {"investigator", "supervisor", "auditor", "admin", NULL};

	return role_in(role, roles, "investigator, supervisor, auditor or admin");
}

int schema_check_hq_role(const char *role)
{
	static const char *const roles[] = {"hq-admin", "intake", "supervisor", "investigator",
		"auditor", "analyst", NULL};

	return role_in(role, roles,
		"hq-admin, intake, supervisor, investigator, auditor or analyst");
}
