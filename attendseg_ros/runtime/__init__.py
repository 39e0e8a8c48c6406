"""The per-frame runtime: the pipeline, image conversion, drivable mask, frame accounting, topic names
and the overlay. No torch and no ROS: the node, the bag tools and the benchmarks share it."""
