/* The thermostat's line protocol (README.md): one answer line parsed into a reading, and the
 * reading as the JSON thermostatd publishes. Everything the device sends is untrusted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* The longest answer line, without its newline; the protocol's are under 30 bytes. */
#define READING_LINE_MAX 64

/* Values in tenths, as the device reports them: 215 is 21.5. */
typedef struct
{
  int temperature; /* °C */
  int humidity;    /* % relative humidity */
  int setpoint;    /* °C */
} Reading;

/* Parse LINE, an answer without its newline ("T=21.5 H=40.0 SET=20.0"). On failure return
 * false with the reason in WHY (WHY_SIZE bytes); RET_READING is written only on success. */
bool reading_parse (const char *line, Reading *ret_reading, char *why, size_t why_size);

/* Write READING, taken at WHEN, as a JSON object into BUF (SIZE bytes). Returns its length,
 * or -1 when BUF is too small. */
int reading_to_json (const Reading *reading, time_t when, char *buf, size_t size);
