"""The synthetic seasonal garden world behind `gardenbot synth` (docs/synth.md).

Entry points: ``generate.RecordingSpec`` / ``generate.write_recording`` (one recording),
``benchmark.write_benchmark`` (the seasonal benchmark set), ``preview.contact_sheet``,
``world.build_world`` + ``render.GardenRenderer`` (frames from any pose), ``layout.make_garden``
and the split ``layout.TRAIN_GARDENS`` / ``layout.TEST_GARDENS``.
"""
