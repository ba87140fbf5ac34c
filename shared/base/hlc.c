/* shared/base/hlc.c - hybrid logical clocks. */
#include "base/hlc.h"

#include <stdio.h>
#include <string.h>
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
