"""Deciding and acting: what perception saw (and the robot's state) to commands.

Pure functions: the traversability grid to a drive command (v, ω) that steers toward open
ground or stops and says why, watering zones to a pump command, and the safety clamps that
return what is actually sent. The runtime sends the commands over the serial link.

    policy.py  drive_command, DriveCommand, GroundGrid, stop; water_command, WaterCommand,
               zones_from_meta; clamp_drive, clamp_water
    probe.py   Prober, ProbeRecord: creep onto ground the adapter cannot vouch for (issue 12)
    config.py  PolicyConfig, WateringConfig, Zone, ProbeConfig: the [policy], [watering] and
               [probe] sections
"""
