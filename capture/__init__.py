"""From camera back to model: find the printed artifact in photos, video and live frames, and re-score it.

    run_artifact.py    the artifact the photos show: a run's (load_run) or a published image (published_artifact)
    texture_print.py   a texture's print: the sheet of repeats `patchgen export` made of its tile
    location.py        where it is: a homography artifact mm -> photo px, and how it was found
    locate.py          markers (printing.markers), refined on, or replaced by, the artifact's own image
    appearance.py      the artifact by its own image: keypoints or a search, then ECC alignment, periodic sheets
    rectify.py         the artifact pulled back into its digital pixel grid
    colour_fidelity.py ΔE2000 between the rectified print and the digital artifact
    counterfactual.py  the photo with the artifact painted over (grey or random), same geometry
    prediction.py      the victim on a photo of any size: a detector's boxes, a classifier's probabilities
    score.py           one photo or frame through all of the above (score, video and live alike), judged by the
                       run's goal (its photo_verdict, patchgen/goals/photo.py): one definition of success
    video.py, batch.py, report.py   `patchgen score`: videos, many inputs, JSON/CSV/HTML
    frames.py, live.py, serve.py    `patchgen live`: camera/stream/file, the loop, the local web page
    synthetic.py       synthetic photographs of the exported printout, for tests and benchmarks
"""
