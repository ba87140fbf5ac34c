/*
 * shared/base/hlc.h - hybrid logical clocks.
 *
 * Every edit carries (wall milliseconds, counter): it never goes backwards on a node even if
 * the wall clock does, and it orders events across nodes closely enough for display.  No clock
 * decides a merge (DESIGN.md section 4); the HLC only orders history and names notes.
 */
#ifndef FIELDSYNC_HLC_H
#define FIELDSYNC_HLC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct hlc {
	int64_t wall_ms;
	uint32_t counter;
};

#define HLC_STR_MAX 32

/* Milliseconds since the epoch, from the real-time clock. */
int64_t hlc_now_ms(void);

/* The next local timestamp after `last` at wall time `now_ms`. */
void hlc_next(struct hlc *out, const struct hlc *last, int64_t now_ms);

/* After receiving `remote`: the next timestamp after both. */
void hlc_observe(struct hlc *out, const struct hlc *last, const struct hlc *remote,
	int64_t now_ms);

/* "1764268619000.3" form. */
void hlc_format(char out[HLC_STR_MAX], const struct hlc *h);

/* Parse the form above. ERR_INVALID. */
int hlc_parse(struct hlc *out, const char *s) WUR;

/* UTC ISO 8601 with milliseconds: "2026-11-27T18:36:59.123Z". */
void hlc_iso8601(char out[HLC_STR_MAX], int64_t wall_ms);

/* The UTC day of `seconds` since the epoch as YYYY-MM-DD. */
void hlc_day(char out[11], int64_t seconds);

/*
 * A point in time typed by a person, as a prefix of the hlc_iso8601() form that compares as
 * text with stored times: ISO 8601 UTC, YYYY[-MM[-DD[THH:MM[:SS[.mmm]]]]] with an optional
 * trailing Z, or a time before `now_ms`: N followed by m, h, d or w (30m, 24h, 7d, 2w; N from
 * 1 to 999999).  Returns 0, or ERR_INVALID (out untouched).
 */
int hlc_parse_time(char out[HLC_STR_MAX], const char *text, int64_t now_ms) WUR;

/*
 * Milliseconds since the epoch of a stored date or time, YYYY-MM-DD[THH:MM:SS...] (UTC; the
 * caller has checked its form, as the case schema does); 0 for NULL or one too short.
 */
int64_t hlc_date_ms(const char *date);

#endif
