/* The firmware core and the simulated HAL compiled for the host, speaking over a pseudo-terminal:
 * the same C that runs on the ATmega328P, testable at full speed without QEMU.
 *
 *   gb_host_firmware [--link PATH]
 *
 * Prints the pty's path on stdout (one line), then runs until SIGTERM/SIGINT. --link also makes
 * PATH a symlink to the pty (replaced if it exists), so a restarted board keeps its name. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "gb_core.h"
#include "gb_hal.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static uint32_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

/* Like QEMU's UART without a client: output nobody reads is dropped, never blocks the loop. */
static void pty_tx(const uint8_t *data, uint8_t len, void *ctx)
{
    int fd = *(int *)ctx;
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0)
            return;
        data += n;
        len = (uint8_t)(len - n);
    }
}

int main(int argc, char **argv)
{
    const char *link_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--link") == 0 && i + 1 < argc) {
            link_path = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--link PATH]\n", argv[0]);
            return 2;
        }
    }
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) {
        perror("posix_openpt");
        return 1;
    }
    const char *slave_path = ptsname(master);
    /* Keep our own slave descriptor so the master never reads EIO between clients; set raw mode
     * so the line discipline passes every byte through untouched. */
    int slave = open(slave_path, O_RDWR | O_NOCTTY);
    struct termios tio;
    if (slave < 0 || tcgetattr(slave, &tio)) {
        perror("open pty slave");
        return 1;
    }
    cfmakeraw(&tio);
    tcsetattr(slave, TCSANOW, &tio);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    if (link_path) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp%d", link_path, (int)getpid());
        if (symlink(slave_path, tmp) || rename(tmp, link_path)) {
            perror("symlink");
            return 1;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("%s\n", slave_path);
    fflush(stdout);

    static gb_core_t core;
    hal_init();
    gb_core_init(&core, GB_BOARD_HOST_SIM, now_ms(), pty_tx, &master);
    gb_core_announce(&core);
    uint8_t buf[256];
    while (!stop) {
        struct pollfd p = {master, POLLIN, 0};
        poll(&p, 1, 1);
        uint32_t now = now_ms();
        ssize_t n;
        while ((n = read(master, buf, sizeof buf)) > 0)
            gb_core_rx(&core, buf, (size_t)n, now);
        gb_sensors_t sensors;
        hal_read_sensors(now, &sensors);
        sensors.rx_overflow = 0;
        gb_core_tick(&core, now, &sensors);
        hal_set_motors(core.motor_left_mmps, core.motor_right_mmps, now);
        hal_set_pump(core.pump_zone, now);
    }
    close(slave);
    close(master);
    return 0;
}
