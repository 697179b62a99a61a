/* ATmega328P main: UART at 115200 baud with interrupt-driven ring buffers, a Timer1 clock,
 * the hardware watchdog, and the loop that feeds the core and applies its outputs to the HAL.
 * Only Timer1 is used for time because QEMU's AVR machine emulates the 16-bit timers only. */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/wdt.h>
#include <util/delay.h>

#include "gb_core.h"
#include "gb_hal.h"

#ifndef GB_BOARD
#define GB_BOARD GB_BOARD_ATMEGA328P
#endif

#define RX_RING 128 /* powers of two: the indices wrap with a mask */
#define TX_RING 128

static volatile uint8_t rx_ring[RX_RING], rx_head, rx_tail, rx_overflow;
static volatile uint8_t rx_held; /* the ring was full: a byte waits in UDR0, RXCIE0 is off */
static volatile uint8_t tx_ring[TX_RING], tx_head, tx_tail;
static uint32_t millis;
static uint16_t clock_last_count;
static uint16_t clock_half_ticks; /* 2 x Timer1 ticks not yet counted as a millisecond */
static gb_core_t core;

#if GB_BOARD == GB_BOARD_ATMEGA328P_SIM
/* In QEMU, a loop that polls the emulated Timer1 non-stop takes QEMU's global lock so often that
 * its event loop, which feeds the UART from the pty one byte per turn, starves: host-to-MCU
 * traffic fell to about 90 bytes/s and heartbeats queued up behind each other (QEMU 7.2). A pause
 * with no I/O while nothing was received lets it in; received bytes keep arriving by interrupt
 * meanwhile. 5 ms (emulated) was not always enough; 20 ms was (docs/protocol.md, section 8). The
 * real board has no such lock and loops flat out. */
#define IDLE_PAUSE_US 20000
#endif

/* With the ring full, the byte is left in UDR0 and this interrupt turned off until the main loop
 * has made room (rx_release). Under QEMU that is flow control: its UART takes the next byte from
 * the pty only once UDR0 was read, so a burst of any length waits in the pty instead of being
 * lost. On the real board the line does not wait: once the USART's own two-byte buffer is full
 * too, the hardware drops bytes and reports a data overrun, counted below. */
ISR(USART_RX_vect)
{
    uint8_t next = (uint8_t)((rx_head + 1) & (RX_RING - 1));
    if (next == rx_tail) {
        UCSR0B &= (uint8_t)~_BV(RXCIE0);
        rx_held = 1;
        return;
    }
    if (UCSR0A & _BV(DOR0))
        rx_overflow = 1; /* bytes before this one were lost; their frame will fail its CRC */
    rx_ring[rx_head] = UDR0;
    rx_head = next;
}

/* Receive again after the main loop took bytes out of a full ring. */
static void rx_release(void)
{
    if (!rx_held) /* RAM only: no device register access in the common case (see main) */
        return;
    cli();
    rx_held = 0;
    UCSR0B |= _BV(RXCIE0);
    sei();
}

ISR(USART_UDRE_vect)
{
    if (tx_tail == tx_head) {
        UCSR0B &= (uint8_t)~_BV(UDRIE0);
        return;
    }
    UDR0 = tx_ring[tx_tail];
    tx_tail = (uint8_t)((tx_tail + 1) & (TX_RING - 1));
}

/* Milliseconds from free-running Timer1 at 62.5 kHz (16 MHz / 256; 125 ticks = 2 ms), by counting
 * the ticks since the last call instead of counting compare interrupts. Under QEMU, interrupts are
 * late and the emulated counter is restarted late at each overflow, so an interrupt-counted clock
 * ran at half speed and a naive tick count jumped forward at every overflow. Here a step
 * backwards is taken as no time. Must run at least every 0.5 s (half a counter wrap): the main
 * loop does, and the 250 ms watchdog resets a loop that doesn't. */
static uint32_t now_ms(void)
{
    uint8_t sreg = SREG;
    cli();
    uint16_t count = TCNT1;
    SREG = sreg;
    uint16_t ticks = (uint16_t)(count - clock_last_count);
    clock_last_count = count;
    if (ticks < 0x8000u) {
        uint32_t half = (uint32_t)clock_half_ticks + 2u * ticks;
        millis += half / 125u;
        clock_half_ticks = (uint16_t)(half % 125u);
    }
    return millis;
}

/* Queue a frame; waits (interrupts on) while the ring is full, which at 115200 baud is at most
 * one frame time (~6 ms). */
static void uart_tx(const uint8_t *data, uint8_t len, void *ctx)
{
    (void)ctx;
    for (uint8_t i = 0; i < len; i++) {
        uint8_t next = (uint8_t)((tx_head + 1) & (TX_RING - 1));
        while (next == tx_tail)
            wdt_reset();
        tx_ring[tx_head] = data[i];
        tx_head = next;
        UCSR0B |= _BV(UDRIE0);
    }
}

static void hw_init(void)
{
    /* 115200 baud: U2X, UBRR 16 (-0.8 % at 16 MHz). */
    UCSR0A = _BV(U2X0);
    UBRR0 = 16;
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
    /* Timer1 free-running at 62.5 kHz (normal mode, no interrupts); see now_ms(). */
    TCCR1A = 0;
    TCCR1B = _BV(CS12);
}

int main(void)
{
    MCUSR = 0;
    wdt_enable(WDTO_250MS); /* a hung loop resets the board; the boot latch then holds it still */
    hw_init();
    hal_init();
    sei();
    gb_core_init(&core, GB_BOARD, now_ms(), uart_tx, 0);
    gb_core_announce(&core);
    for (;;) {
        wdt_reset();
        uint32_t now = now_ms();
        /* At most one ring's worth per pass: under a flood of input the clock, the failsafe
         * and telemetry must still get their turn. */
        for (uint8_t n = 0; n < RX_RING && rx_tail != rx_head; n++) {
            uint8_t b = rx_ring[rx_tail];
            rx_tail = (uint8_t)((rx_tail + 1) & (RX_RING - 1));
            gb_core_rx(&core, &b, 1, now);
        }
        rx_release();
        gb_sensors_t sensors;
        hal_read_sensors(now, &sensors);
        cli();
        sensors.rx_overflow = rx_overflow;
        rx_overflow = 0;
        sei();
        gb_core_tick(&core, now, &sensors);
        hal_set_motors(core.motor_left_mmps, core.motor_right_mmps, now);
        hal_set_pump(core.pump_zone, now);
#ifdef IDLE_PAUSE_US
        if (rx_tail == rx_head)
            _delay_us(IDLE_PAUSE_US);
#endif
    }
}
