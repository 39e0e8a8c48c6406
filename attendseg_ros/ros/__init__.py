"""ROS 2 side of attendseg_ros: image conversion, parameters, the segmentation and evaluation nodes.

Importing this package does not import rclpy; the node modules do.
"""
