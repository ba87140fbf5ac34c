/*
 * shared/case/schema.h - the case schema: which fields a case has, their kinds and allowed values.
 *
 * One table, used by both the agent and the server to validate every write (a command-line
 * edit, a tree received in a change set).  The vocabulary is internal-affairs practice
 * (DESIGN.md section 3).  Also the validators for the identifiers every module shares: office
 * codes, case ids, user names, free text.
 */
#ifndef FIELDSYNC_SCHEMA_H
#define FIELDSYNC_SCHEMA_H

#include <stddef.h>

#include "base/err.h"

enum schema_kind {
	SCHEMA_LINE, /* one line of text */
	SCHEMA_TEXT, /* multi-line text */
	SCHEMA_ENUM, /* one of `values` */
	SCHEMA_INT,  /* an integer in [min, max] */
	SCHEMA_DATE, /* YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ */
};

struct schema_field {
	const char *name;
	enum schema_kind kind;
	const char *const *values; /* SCHEMA_ENUM: NULL-terminated */
	long min, max;		   /* SCHEMA_INT */
	size_t max_len;		   /* bytes */
	int required;		   /* must be set when a case is created */
	const char *default_value; /* set at creation when not given; NULL for none */
	int searchable;		   /* goes into the full-text index */
	const char *help;
};

#define SCHEMA_MAX_FIELDS 32
#define SCHEMA_NARRATIVE_MAX (1024u * 1024)
#define SCHEMA_NOTE_MAX (256u * 1024)
#define SCHEMA_OFFICE_MAX 8
#define SCHEMA_USER_MAX 64
#define SCHEMA_CASE_ID_MAX 24

/* Number of fields and the field at index i (0 <= i < schema_count()). */
size_t schema_count(void);
const struct schema_field *schema_at(size_t i);

/* The field called `name`, or NULL. */
const struct schema_field *schema_field(const char *name);

/* Index of a field in the table, or -1. */
int schema_index(const char *name);

/*
 * Check a value for a field.  The empty string means "clear the field" and is refused for
 * required fields.  ERR_INVALID or ERR_TOOBIG with a message naming the field and the rule.
 */
int schema_check_value(const struct schema_field *f, const char *value) WUR;

/*
 * Check free text (`what` names it in messages): valid UTF-8, no NUL, no control characters
 * but newline, carriage return and tab, at most `max` bytes.
 */
int schema_check_text(const char *what, const char *text, size_t len, size_t max) WUR;

/* Office code: 2 to 8 characters A-Z, 0-9, starting with a letter. */
int schema_check_office(const char *code) WUR;

/* User name: 1 to 64 characters a-z, 0-9, '.', '_', '-', starting with a letter. */
int schema_check_user(const char *name) WUR;

/* Case id: OFFICE-YY-XXXXXXX (Crockford base32). */
int schema_check_case_id(const char *id) WUR;

/* Roles of a field device's users: investigator, supervisor, auditor, admin. */
int schema_check_role(const char *role) WUR;

/*
 * Roles of HQ's staff accounts: hq-admin (offices, devices, users), intake (new allegations),
 * supervisor (case work, share and transfer), investigator (case work), auditor (the audit
 * trails, no case content), analyst (reports only).  The key file's own identity is 'admin'.
 */
int schema_check_hq_role(const char *role) WUR;

#endif
