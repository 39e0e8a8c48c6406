"""ROS 2 side of attendseg_ros: parameters, the segmentation and evaluation nodes, node processes.

The only package (with the commands in ``cli/``) that imports rclpy. It uses the ROS-free parts
(``pipeline``, ``image_conversion``, ``bag``, ``engines``), never the other way round. Importing
this package does not import rclpy; the modules do.
"""
