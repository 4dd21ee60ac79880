/* The thermostat's serial line: opening it raw, and splitting what it sends into lines. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "reading.h"

/* Open PATH read-write as a raw 9600 8N1 line, non-blocking, close-on-exec and not as the
 * controlling terminal. Returns the fd, or -1 with errno set and *RET_STEP naming the call
 * that failed ("open", "tcgetattr", ...). */
int serial_open (const char *path, const char **ret_step);

/* Lines of at most READING_LINE_MAX bytes assembled from the device's bytes. */
typedef struct
{
  char line[READING_LINE_MAX + 1];
  size_t len;
  bool overlong;
} SerialLines;

typedef enum
{
  SERIAL_MORE,     /* no line ended yet */
  SERIAL_LINE,     /* a line ended: it is in lines->line, NUL-terminated */
  SERIAL_OVERLONG, /* a line longer than READING_LINE_MAX ended; it was dropped */
} SerialEvent;

/* Take the next byte from the device. Carriage returns are dropped (CRLF devices) and any
 * byte that is not printable ASCII is kept as '?', so a line is always printable text that
 * fails to parse rather than text that hides bytes from the parser and the log. */
SerialEvent serial_lines_push (SerialLines *lines, char byte);
