/* shared/base/hlc.c - hybrid logical clocks. */
#include "base/hlc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include <time.h>

int64_t hlc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hlc_next(struct hlc *out, const struct hlc *last, int64_t now_ms)
{
	if (now_ms > last->wall_ms) {
		out->wall_ms = now_ms;
		out->counter = 0;
	} else {
		out->wall_ms = last->wall_ms;
		out->counter = last->counter + 1;
	}
}

void hlc_observe(struct hlc *out, const struct hlc *last, const struct hlc *remote,
	int64_t now_ms)
{
	const struct hlc *hi = remote->wall_ms > last->wall_ms ||
					       (remote->wall_ms == last->wall_ms &&
						       remote->counter > last->counter)
				       ? remote
				       : last;

	hlc_next(out, hi, now_ms);
}

void hlc_format(char out[HLC_STR_MAX], const struct hlc *h)
{
	snprintf(out, HLC_STR_MAX, "%lld.%u", (long long)h->wall_ms, h->counter);
}

int hlc_parse(struct hlc *out, const char *s)
{
	int64_t wall = 0;
	uint64_t counter = 0;
	const char *p = s;
	int digits = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits >= 15)
			goto bad;
		wall = wall * 10 + (*p - '0');
	}
	if (digits == 0 || *p++ != '.')
		goto bad;
	for (digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits >= 9)
			goto bad;
		counter = counter * 10 + (uint64_t)(*p - '0');
	}
	if (digits == 0 || *p)
		goto bad;
	out->wall_ms = wall;
	out->counter = (uint32_t)counter;
	return 0;
bad:
	return err_set(ERR_INVALID, "'%s' is not a valid hybrid logical clock", s);
}

void hlc_iso8601(char out[HLC_STR_MAX], int64_t wall_ms)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;

	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(out, HLC_STR_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, HLC_STR_MAX - n, ".%03dZ", (int)(wall_ms % 1000));
}

/* N[mhdw] before now, or -1. */
static int64_t relative_ms(const char *text, int64_t now_ms)
{
	static const char units[] = "mhdw";
	static const int64_t unit_ms[] = {60000, 3600000, 86400000, 604800000};
	size_t len = strlen(text), digits = strspn(text, "0123456789");
	const char *u;
	int64_t n = 0;
	size_t i;

	if (len < 2 || len > 7 || digits != len - 1 || text[0] == '0')
		return -1;
	u = strchr(units, text[len - 1]);
	if (!u || !*u)
		return -1;
	for (i = 0; i < digits; i++)
		n = n * 10 + (text[i] - '0');
	n *= unit_ms[u - units];
	return n <= now_ms ? now_ms - n : -1;
}

/* Two digits at p as a number. */
static int two(const char *p)
{
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/* 1 if text is a prefix form of YYYY-MM-DDTHH:MM:SS.mmm (lengths 4, 7, 10, 16, 19, 23). */
static int iso_prefix(const char *text, size_t len)
{
	static const char form[] = "dddd-dd-ddTdd:dd:dd.ddd";
	size_t i;

	if (len != 4 && len != 7 && len != 10 && len != 16 && len != 19 && len != 23)
		return 0;
	for (i = 0; i < len; i++)
		if (form[i] == 'd' ? text[i] < '0' || text[i] > '9' : text[i] != form[i])
			return 0;
	if (len >= 7 && (two(text + 5) < 1 || two(text + 5) > 12))
		return 0;
	if (len >= 10 && (two(text + 8) < 1 || two(text + 8) > 31))
		return 0;
	if (len >= 16 && (two(text + 11) > 23 || two(text + 14) > 59))
		return 0;
	return len < 19 || two(text + 17) <= 60;
}

int hlc_parse_time(char out[HLC_STR_MAX], const char *text, int64_t now_ms)
{
	size_t len = text ? strlen(text) : 0;
	int64_t ms;

	if (!text)
		return err_set(ERR_INVALID, "no time given");
	ms = relative_ms(text, now_ms);
	if (ms >= 0) {
		hlc_iso8601(out, ms);
		return 0;
	}
	if (len && text[len - 1] == 'Z')
		len--;
	if (!iso_prefix(text, len))
		return err_set(ERR_INVALID,
			"'%s' is not a time: give ISO 8601 (2026-11-27, 2026-11-27T18:00, "
			"2026-11-27T18:00:05Z) or a time before now (30m, 24h, 7d, 2w)",
			text);
	/* the full form keeps its Z so that it equals a stored time; a shorter one is a prefix */
	snprintf(out, HLC_STR_MAX, "%.*s%s", (int)len, text, len == 23 ? "Z" : "");
	return 0;
}

int64_t hlc_date_ms(const char *date)
{
	size_t len = date ? strlen(date) : 0;
	struct tm tm;

	if (len < 10)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)strtol(date, NULL, 10) - 1900;
	tm.tm_mon = (int)strtol(date + 5, NULL, 10) - 1;
	tm.tm_mday = (int)strtol(date + 8, NULL, 10);
	if (len >= 19) {
		tm.tm_hour = (int)strtol(date + 11, NULL, 10);
		tm.tm_min = (int)strtol(date + 14, NULL, 10);
		tm.tm_sec = (int)strtol(date + 17, NULL, 10);
	}
	return (int64_t)timegm(&tm) * 1000;
}

void hlc_day(char out[11], int64_t seconds)
{
	time_t t = (time_t)seconds;
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		out[0] = '\0';
}
