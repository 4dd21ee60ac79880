#include "serial.h"

#include <errno.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

static int
configure (int fd, const char **ret_step)
{
  struct termios tio;
  if (tcgetattr (fd, &tio) < 0)
    return *ret_step = "tcgetattr", -1;
  /* Raw: no echo, no line editing, no CR/NL translation, 8 data bits, no parity. */
  cfmakeraw (&tio);
  tio.c_cflag &= ~(CSTOPB | CRTSCTS);
  tio.c_cflag |= CLOCAL | CREAD;
  if (cfsetispeed (&tio, B9600) < 0 || cfsetospeed (&tio, B9600) < 0)
    return *ret_step = "cfsetspeed", -1;
  if (tcsetattr (fd, TCSANOW, &tio) < 0)
    return *ret_step = "tcsetattr", -1;
  /* Whatever arrived before we listened answers no question of ours. */
  if (tcflush (fd, TCIOFLUSH) < 0)
    return *ret_step = "tcflush", -1;
  return 0;
}

int
serial_open (const char *path, const char **ret_step)
{
  int fd = open (path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return *ret_step = "open", -1;
  if (configure (fd, ret_step) < 0)
    {
      int errsv = errno;
      close (fd);
      errno = errsv;
      return -1;
    }
  return fd;
}

SerialEvent
serial_lines_push (SerialLines *lines, char byte)
{
  if (byte == '\n')
    {
      SerialEvent event = lines->overlong ? SERIAL_OVERLONG : SERIAL_LINE;
      lines->line[lines->len] = '\0';
      lines->len = 0;
      lines->overlong = false;
      return event;
    }
  if (byte == '\r' || lines->overlong)
    return SERIAL_MORE;
  if (lines->len == READING_LINE_MAX)
    {
      lines->overlong = true;
      return SERIAL_MORE;
    }
  lines->line[lines->len++] = byte >= 0x20 && byte < 0x7f ? byte : '?';
  return SERIAL_MORE;
}
