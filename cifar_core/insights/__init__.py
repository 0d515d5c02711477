"""Looking inside a network, one module per view, each returning arrays or small dataclasses
(the dashboard's figures/ draws them): inference, filters, feature_maps, confusion."""
