/* Simulated sensors: wheels turn exactly as commanded, currents follow speed, the watered zone's
 * soil gets wetter while the others dry, the battery drains. Same models as the Python emulator's
 * world (firmware_bridge/emulator/world.py), in integer arithmetic. */
#include "gb_hal.h"
#include "gb_mul.h"

#define TICK_SCALE 1000000L /* (mm/s) * ms * ticks/m = 1e6 * ticks */

static int16_t speed_mmps[2];
static uint8_t pump_zone = GB_PUMP_CLOSED;
static int32_t ticks[2];
static int32_t tick_frac[2];
static uint16_t moisture[GB_N_MOISTURE];
static uint32_t wet_ms[GB_N_MOISTURE];
static uint32_t dry_ms;
static uint16_t battery_mv;
static uint32_t drain_ms;
static uint32_t last_ms;
static uint8_t started;

void hal_init(void)
{
    for (uint8_t i = 0; i < GB_N_MOISTURE; i++)
        moisture[i] = 400;
    battery_mv = 12600;
}

static void integrate(uint32_t now_ms)
{
    if (!started) {
        started = 1;
        last_ms = now_ms;
        return;
    }
    uint32_t dt = now_ms - last_ms;
    last_ms = now_ms;
    while (dt > 0) {
        uint16_t step = dt > 1000 ? 1000 : (uint16_t)dt; /* keeps the products in 32 bits */
        dt -= step;
        for (uint8_t w = 0; w < 2; w++) {
            tick_frac[w] += gb_mul_i16_u16(speed_mmps[w], step) * GB_TICKS_PER_M;
            while (tick_frac[w] >= TICK_SCALE) {
                tick_frac[w] -= TICK_SCALE;
                ticks[w]++;
            }
            while (tick_frac[w] <= -TICK_SCALE) {
                tick_frac[w] += TICK_SCALE;
                ticks[w]--;
            }
        }
        /* +20 permille per second of watering, -1 per 10 s of drying. */
        if (pump_zone < GB_N_MOISTURE) {
            wet_ms[pump_zone] += step;
            while (wet_ms[pump_zone] >= 50) {
                wet_ms[pump_zone] -= 50;
                if (moisture[pump_zone] < 1000)
                    moisture[pump_zone]++;
            }
        }
        dry_ms += step;
        while (dry_ms >= 10000) {
            dry_ms -= 10000;
            for (uint8_t i = 0; i < GB_N_MOISTURE; i++)
                if (moisture[i] > 0 && i != pump_zone)
                    moisture[i]--;
        }
        /* -1 mV per 20 s idle, per 2 s while the motors or the pump run. */
        uint8_t busy = speed_mmps[0] || speed_mmps[1] || pump_zone != GB_PUMP_CLOSED;
        drain_ms += busy ? 10u * step : step;
        while (drain_ms >= 20000) {
            drain_ms -= 20000;
            if (battery_mv > 0)
                battery_mv--;
        }
    }
}

void hal_set_motors(int16_t left_mmps, int16_t right_mmps, uint32_t now_ms)
{
    integrate(now_ms);
    speed_mmps[0] = left_mmps;
    speed_mmps[1] = right_mmps;
}

void hal_set_pump(uint8_t zone, uint32_t now_ms)
{
    integrate(now_ms);
    pump_zone = zone;
}

static uint16_t current_ma(int16_t speed)
{
    return (uint16_t)(150 + 2 * (speed < 0 ? -speed : speed));
}

void hal_read_sensors(uint32_t now_ms, gb_sensors_t *s)
{
    integrate(now_ms);
    s->left_ticks = ticks[0];
    s->right_ticks = ticks[1];
    s->current_left_ma = current_ma(speed_mmps[0]);
    s->current_right_ma = current_ma(speed_mmps[1]);
    s->bumper_bits = 0;
    for (uint8_t i = 0; i < GB_N_MOISTURE; i++)
        s->moisture_permille[i] = moisture[i];
    s->battery_mv = battery_mv;
}
