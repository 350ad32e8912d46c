"""`sgpose bench`: the cost of the SGM and the speed of the model, above the engine.

    run         run_bench, the `sgpose bench` entry: runs the sections asked for, writes the report
    main        baseline vs SG of one preset, the inference options, the official upsampling path
    data        each track's data pipeline beside the `cpu` profile's train step
    scaling     train step time over widths x input sizes, and its plot
    ops         torch.profiler's top ops of an SG train step
    shared_load the `cpu` profile's train step alone and beside a busy process, OpenMP wait settings
    cuda_modes  GPU train/eval img/s in fp32, bf16, channels_last, torch.compile (scripts/gpu_bench.py)
    render      the JSON + Markdown report, re-rendered from the whole JSON
    models      the timed models, a random training batch, the training loop's step on it
    timing      timed calls, CPU share, peak memory, saved activations, the machine's settings
"""
