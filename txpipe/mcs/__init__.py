"""MCS sources: the McsPyDataTools reader, frame sync, playlists and stimulus configs."""
