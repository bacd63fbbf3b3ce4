"""An RTSP server for the Ray engine tests: every client session gets the file from its start.

Runs under the SYSTEM python (``/usr/bin/python3``, which has ``gi``), like
``tests/sources/rtsp_server.py`` (whose pipeline it reuses), but with an unshared media
factory: a camera actor restarted on another node opens a new session and is served the clip
from the beginning, as a recorder (NVR) replaying footage would.  That makes a run with a
node killed comparable, event for event, with an undisturbed one.

``--copy`` sends the file's H.264 as it is stored (demuxed and packetised, as a recorder
replays its recordings): every session gets the same pictures, bit for bit.  Without it the
file is decoded and encoded again live, and on a loaded machine the pipeline's quality-of-
service drops late pictures (videorate repeats others in their place), so two sessions of one
file differ in what they show.

    /usr/bin/python3 tests/engine/replay_rtsp_server.py --port P --path /cam --file clip.mp4
        [--width 480 --height 270 --fps 10] [--copy]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer  # noqa: E402
from rtsp_server import launch_string, serve  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--file", required=True)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--height", type=int, default=270)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--copy", action="store_true", help="send the stored H.264 as it is")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    if args.copy:
        factory.set_launch(
            f'( filesrc location="{args.file}" ! qtdemux ! h264parse ! '
            "rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
    else:
        factory.set_launch(launch_string(args))
    factory.set_shared(False)  # each session its own pipeline, from the file's start
    server.get_mount_points().add_factory(args.path, factory)
    return serve(server, args.port, args.path)


if __name__ == "__main__":
    sys.exit(main())
