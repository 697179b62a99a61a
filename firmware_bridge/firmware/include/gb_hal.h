/* The hardware-abstraction layer: everything the firmware touches besides the UART and timer.
 * hal_avr.c drives a real ATmega328P board; hal_sim.c simulates the sensors from the motor and
 * pump commands (for QEMU, which emulates no ADC, encoders or PWM, and for the host build). */
#ifndef GB_HAL_H
#define GB_HAL_H

#include <stdint.h>

#include "gb_core.h"

void hal_init(void);

/* Wheel speeds in mm/s (sign = direction); 0 stops the motor. */
void hal_set_motors(int16_t left_mmps, int16_t right_mmps, uint32_t now_ms);

/* Open the valve of zone and run the pump; GB_PUMP_CLOSED stops the pump and closes all valves. */
void hal_set_pump(uint8_t zone, uint32_t now_ms);

/* Fill everything but rx_overflow (the UART driver knows that). */
void hal_read_sensors(uint32_t now_ms, gb_sensors_t *s);

#endif
