"""EC2 head nodes and workers (placeholder until the ec2aws branch is merged: TODO(merge))."""
