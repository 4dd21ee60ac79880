#include "reading.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct
{
  const char *key; /* as it appears on the line, with the blank before it */
  const char *name;
  int min, max; /* tenths */
} Field;

/* The answer's fields, in the order the device sends them, with the values a real thermostat
 * can report: anything else is line noise or a broken sensor, not a reading. */
static const Field fields[] = {
  { "T=", "T", -400, 850 },
  { " H=", "H", 0, 1000 },
  { " SET=", "SET", 50, 350 },
};

__attribute__ ((format (printf, 3, 4))) static bool
fail (char *why, size_t why_size, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  vsnprintf (why, why_size, format, args);
  va_end (args);
  return false;
}

static bool
is_digit (char c)
{
  return c >= '0' && c <= '9';
}

/* A value is -?[0-9]{1,3}(.[0-9])?, read as tenths. Not strtod: that would also take "nan",
 * "1e9", hex and the locale's decimal point. Returns the end of the value, or NULL. */
static const char *
parse_tenths (const char *p, int *ret_tenths)
{
  bool negative = *p == '-';
  if (negative)
    p++;
  int digits = 0, value = 0;
  while (is_digit (*p) && digits < 4)
    value = value * 10 + (*p++ - '0'), digits++;
  if (digits == 0 || digits > 3)
    return NULL;
  value *= 10;
  if (*p == '.')
    {
      if (!is_digit (p[1]))
        return NULL;
      value += p[1] - '0';
      p += 2;
    }
  *ret_tenths = negative ? -value : value;
  return p;
}

static void
format_tenths (int tenths, char *buf, size_t size)
{
  int magnitude = tenths < 0 ? -tenths : tenths;
  snprintf (buf, size, "%s%d.%d", tenths < 0 ? "-" : "", magnitude / 10, magnitude % 10);
}

bool
reading_parse (const char *line, Reading *ret_reading, char *why, size_t why_size)
{
  int values[sizeof fields / sizeof fields[0]];
  const char *p = line;
  if (strlen (line) > READING_LINE_MAX)
    return fail (why, why_size, "longer than %d bytes", READING_LINE_MAX);
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    {
      const Field *field = &fields[i];
      size_t column = (size_t)(p - line) + 1;
      if (strncmp (p, field->key, strlen (field->key)) != 0)
        return fail (why, why_size, "expected '%s' at byte %zu", field->key, column);
      p += strlen (field->key);
      int value;
      const char *end = parse_tenths (p, &value);
      if (end == NULL)
        return fail (why, why_size, "%s is not a number like 21.5", field->name);
      if (value < field->min || value > field->max)
        {
          char min[16], max[16];
          format_tenths (field->min, min, sizeof min);
          format_tenths (field->max, max, sizeof max);
          return fail (why, why_size, "%s is outside %s..%s", field->name, min, max);
        }
      values[i] = value;
      p = end;
    }
  if (*p != '\0')
    return fail (why, why_size, "unexpected bytes after SET at byte %zu", (size_t)(p - line) + 1);
  *ret_reading
      = (Reading){ .temperature = values[0], .humidity = values[1], .setpoint = values[2] };
  return true;
}

int
reading_to_json (const Reading *reading, time_t when, char *buf, size_t size)
{
  char temperature[16], humidity[16], setpoint[16], stamp[32];
  struct tm tm;
  if (gmtime_r (&when, &tm) == NULL
      || strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return -1;
  format_tenths (reading->temperature, temperature, sizeof temperature);
  format_tenths (reading->humidity, humidity, sizeof humidity);
  format_tenths (reading->setpoint, setpoint, sizeof setpoint);
  int len
      = snprintf (buf, size, "{\"temperature\":%s,\"humidity\":%s,\"setpoint\":%s,\"time\":\"%s\"}",
                  temperature, humidity, setpoint, stamp);
  return len < 0 || (size_t)len >= size ? -1 : len;
}
