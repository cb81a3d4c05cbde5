"""Fakes and generators shared by the tests and the benchmarks (no product code imports it).

* :mod:`testkit.telegram_api`: a fake Telegram Bot API server on 127.0.0.1;
* :mod:`testkit.synth`: test speech and media made with espeak-ng, sox and ffmpeg.
"""
