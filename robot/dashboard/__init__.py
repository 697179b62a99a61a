"""The owner's dashboard and Home Assistant: a local web app and MQTT, beside the loop.

The loop never waits for either. Two loop steps connect them to it: :class:`SnapshotStep`
publishes what the loop did each tick into a :class:`SnapshotHolder` (a reference swap), and
:class:`OwnerCommandStep` drains a bounded queue of owner commands (retrain, stop, resume,
water now, rollback, watering settings) each tick, carrying them out through the paths the
robot already has: the learner step's trigger, the policy's clamps, the serial link and the
firmware's caps. The web server (aiohttp) and the MQTT client (paho-mqtt) run on their own
threads, read snapshots and put commands; docs/dashboard.md.

Modules: ``snapshot`` (what the loop publishes), ``commands`` (owner commands, the queue,
watering rules for a manual watering), ``steps`` (the two loop steps), ``auth`` (token,
CSRF, rate limit), ``render`` (the live view's JPEG), ``history`` (plots over time), ``web``
(the aiohttp app), ``mqtt`` (MQTT and Home Assistant discovery), ``service`` (starts and
stops all of it).
"""
