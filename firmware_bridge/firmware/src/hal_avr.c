/* The HAL for a real Arduino Uno (ATmega328P, 16 MHz) with:
 *   - a PHASE/ENABLE motor driver (e.g. DRV8835): PWM on OC0A (PD6, left) and OC0B (PD5, right),
 *     direction on PB0 (left) and PB1 (right);
 *   - single-channel wheel encoders on INT0 (PD2, left) and INT1 (PD3, right); the count direction
 *     follows the commanded direction;
 *   - a pump whose relay is on PC4 and four valves behind a 2-to-4 decoder selected by PD4, PD7
 *     (the decoder is enabled only while the pump relay is on);
 *   - bumpers on PB2 (left) and PB3 (right), to ground, internal pull-ups;
 *   - four soil-moisture probes behind a 4-channel analog multiplexer on ADC0 (PC0), selected by
 *     PB4, PB5; battery divider (1:4) on ADC1; motor current shunt amplifiers on ADC2 and ADC3.
 * The ADC is read round-robin, one conversion per call, so no call waits for a conversion. */
#include <avr/interrupt.h>
#include <avr/io.h>

#include "gb_hal.h"

#define PWM_FULL_SCALE_MMPS GB_MAX_WHEEL_SPEED_MMPS
#define BATTERY_MV_PER_COUNT 20 /* 5 V / 1024 * 4 (divider) ~ 19.5 mV */
#define CURRENT_MA_PER_COUNT 5  /* 0.1 ohm shunt, gain 10: 1 A per V */

static volatile int32_t enc_ticks[2];
static volatile int8_t enc_dir[2] = {1, 1};
static uint16_t adc_value[GB_N_MOISTURE + 3];
static uint8_t adc_slot; /* 0..3: moisture probe 0..3 via mux, 4: battery, 5: left, 6: right */

ISR(INT0_vect) { enc_ticks[0] += enc_dir[0]; }
ISR(INT1_vect) { enc_ticks[1] += enc_dir[1]; }

static void adc_start(uint8_t slot)
{
    uint8_t channel = slot < GB_N_MOISTURE ? 0 : (uint8_t)(slot - GB_N_MOISTURE + 1);
    if (slot < GB_N_MOISTURE)
        PORTB = (uint8_t)((PORTB & ~(_BV(PB4) | _BV(PB5))) | (slot << PB4));
    ADMUX = (uint8_t)(_BV(REFS0) | channel); /* AVcc reference */
    ADCSRA |= _BV(ADSC);
}

void hal_init(void)
{
    DDRD |= _BV(PD4) | _BV(PD5) | _BV(PD6) | _BV(PD7);
    DDRB |= _BV(PB0) | _BV(PB1) | _BV(PB4) | _BV(PB5);
    PORTB |= _BV(PB2) | _BV(PB3); /* bumper pull-ups */
    DDRC |= _BV(PC4);
    PORTC &= (uint8_t)~_BV(PC4);
    /* Timer0: fast PWM, 16 MHz / 64 / 256 = 977 Hz, outputs off until a speed is set. */
    TCCR0A = _BV(WGM01) | _BV(WGM00);
    TCCR0B = _BV(CS01) | _BV(CS00);
    OCR0A = OCR0B = 0;
    EICRA = _BV(ISC01) | _BV(ISC11); /* falling edges */
    EIMSK = _BV(INT0) | _BV(INT1);
    ADCSRA = _BV(ADEN) | _BV(ADPS2) | _BV(ADPS1) | _BV(ADPS0); /* 125 kHz ADC clock */
    adc_start(0);
}

static uint8_t duty(int16_t mmps)
{
    int32_t m = mmps < 0 ? -(int32_t)mmps : mmps;
    if (m > PWM_FULL_SCALE_MMPS)
        m = PWM_FULL_SCALE_MMPS; /* the core never commands more; this only guards the cast */
    return (uint8_t)(m * 255 / PWM_FULL_SCALE_MMPS);
}

void hal_set_motors(int16_t left_mmps, int16_t right_mmps, uint32_t now_ms)
{
    (void)now_ms;
    uint8_t sreg = SREG;
    cli();
    enc_dir[0] = left_mmps < 0 ? -1 : 1;
    enc_dir[1] = right_mmps < 0 ? -1 : 1;
    SREG = sreg;
    if (left_mmps < 0)
        PORTB |= _BV(PB0);
    else
        PORTB &= (uint8_t)~_BV(PB0);
    if (right_mmps < 0)
        PORTB |= _BV(PB1);
    else
        PORTB &= (uint8_t)~_BV(PB1);
    OCR0A = duty(left_mmps);
    OCR0B = duty(right_mmps);
    /* Connect a PWM output only while it drives: a duty of 0 in fast PWM still glitches. */
    TCCR0A = (uint8_t)(_BV(WGM01) | _BV(WGM00) | (OCR0A ? _BV(COM0A1) : 0) |
                       (OCR0B ? _BV(COM0B1) : 0));
    if (!OCR0A)
        PORTD &= (uint8_t)~_BV(PD6);
    if (!OCR0B)
        PORTD &= (uint8_t)~_BV(PD5);
}

void hal_set_pump(uint8_t zone, uint32_t now_ms)
{
    (void)now_ms;
    if (zone >= GB_N_ZONES) {
        PORTC &= (uint8_t)~_BV(PC4);
        return;
    }
    PORTD = (uint8_t)((PORTD & ~(_BV(PD4) | _BV(PD7))) | ((zone & 1) ? _BV(PD4) : 0) |
                      ((zone & 2) ? _BV(PD7) : 0));
    PORTC |= _BV(PC4);
}

void hal_read_sensors(uint32_t now_ms, gb_sensors_t *s)
{
    (void)now_ms;
    if (!(ADCSRA & _BV(ADSC))) { /* the last conversion finished */
        adc_value[adc_slot] = ADC;
        adc_slot = (uint8_t)((adc_slot + 1) % (GB_N_MOISTURE + 3));
        adc_start(adc_slot);
    }
    uint8_t sreg = SREG;
    cli();
    s->left_ticks = enc_ticks[0];
    s->right_ticks = enc_ticks[1];
    SREG = sreg;
    for (uint8_t i = 0; i < GB_N_MOISTURE; i++) /* dry soil reads high on capacitive probes */
        s->moisture_permille[i] = (uint16_t)((1023UL - adc_value[i]) * 1000UL / 1023UL);
    s->battery_mv = (uint16_t)(adc_value[GB_N_MOISTURE] * BATTERY_MV_PER_COUNT);
    s->current_left_ma = (uint16_t)(adc_value[GB_N_MOISTURE + 1] * CURRENT_MA_PER_COUNT);
    s->current_right_ma = (uint16_t)(adc_value[GB_N_MOISTURE + 2] * CURRENT_MA_PER_COUNT);
    s->bumper_bits = (uint8_t)((PINB & _BV(PB2) ? 0 : 1) | (PINB & _BV(PB3) ? 0 : 2));
}
